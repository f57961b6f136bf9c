// The board's live part: replaced whenever the server sends it again.
(function () {
  if (!window.EventSource) { return; }
  var live = document.getElementById("live");
  var source = new EventSource("/board/events");
  source.addEventListener("board", function (e) { live.innerHTML = e.data; });
})();
