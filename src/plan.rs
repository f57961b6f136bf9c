//! The dialplan in service: loaded and checked at start-up, reloaded on
//! file change, over HTTP and with the whole configuration. A call keeps
//! the plan it started with (`Arc<Plan>`); new calls take the newest. An
//! invalid file is refused with the same `file:line:column` messages as
//! `senim check`, and the old plan keeps serving.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use senim_call::config::Line;
use senim_dialplan::model::NodeKind;
use senim_dialplan::{Diagnostic, EntryPoint, Plan, PromptCatalog, Severity};
use senim_media::prompts::{Language, PromptLibrary};
use senim_routing::hours::Schedules;
use senim_routing::partners::PartnerDirectory;
use serde::Serialize;

/// The services routes may name.
pub const SERVICES: [&str; 3] = ["legal", "psychology", "mediation"];

/// The prompt library as the validator sees it.
pub struct Catalog<'a>(pub &'a PromptLibrary);

impl PromptCatalog for Catalog<'_> {
    fn has(&self, id: &str, language: &str) -> bool {
        Language::from_code(language).is_some_and(|l| self.0.get(id, l).is_some())
    }

    fn duration(&self, id: &str, language: &str) -> Option<std::time::Duration> {
        Language::from_code(language)
            .and_then(|l| self.0.get(id, l))
            .map(|p| p.duration())
    }
}

/// What a plan is checked against besides its own file.
pub struct Context<'a> {
    pub prompts: &'a PromptLibrary,
    pub schedules: &'a Schedules,
    pub partners: &'a PartnerDirectory,
    /// The lines (`[[line]]`): each line's node must be in the plan.
    pub lines: &'a [Line],
    /// Whether a `[[trunk]]` is configured: without one, a partner reached
    /// by number only cannot be called.
    pub has_trunk: bool,
    /// `[dialplan] first_prompt_limit`: the prompt before the first choice
    /// of a call may be this long before the check warns.
    pub first_prompt_limit: std::time::Duration,
}

/// The lines as the validator's entry points.
fn entry_points(lines: &[Line]) -> Vec<EntryPoint> {
    lines
        .iter()
        .map(|l| EntryPoint {
            node: l.start.clone(),
            origin: match &l.name {
                Some(name) => format!("[[line]] {} ({name})", l.number),
                None => format!("[[line]] {}", l.number),
            },
        })
        .collect()
}

/// Load and check a plan: the file itself, then its references to the
/// configuration (schedules, the lines' start nodes), the partner directory
/// and the known services. `path` `None` is the default plan embedded in the
/// binary.
pub fn load(
    path: Option<&Path>,
    ctx: &Context<'_>,
) -> Result<(Plan, Vec<Diagnostic>), Vec<Diagnostic>> {
    let catalog = Catalog(ctx.prompts);
    let entries = entry_points(ctx.lines);
    let (plan, mut warnings) = match path {
        Some(path) => senim_dialplan::load_with_entries(path, &catalog, &entries)?,
        None => senim_dialplan::load_str_with_entries(
            crate::bundled::DIALPLAN,
            Path::new(crate::bundled::DIALPLAN_NAME),
            &catalog,
            &entries,
        )?,
    };
    let errors = cross_check(&plan, ctx);
    if errors.iter().any(Diagnostic::is_error) {
        return Err(errors);
    }
    warnings.extend(errors);
    // A long first prompt is a warning, never a refusal: the plan serves.
    warnings.extend(
        senim_dialplan::first_prompt(&plan, &catalog, &entries, ctx.first_prompt_limit)
            .into_iter()
            .map(|mut d| {
                d.message.push_str(" ([dialplan] first_prompt_limit)");
                d
            }),
    );
    warnings.sort_by_key(|d| (d.line, d.column, d.severity));
    Ok((plan, warnings))
}

fn cross_check(plan: &Plan, ctx: &Context<'_>) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for node in plan.nodes() {
        let fault = match &node.kind {
            NodeKind::Transfer(t) if ctx.partners.get(&t.partner).is_none() => Some(format!(
                "transfer {:?}: partner {:?} is not in the partner directory (transfers go only to configured partners)",
                node.id, t.partner
            )),
            NodeKind::Hours(h) if ctx.schedules.get(&h.schedule).is_none() => Some(format!(
                "hours {:?}: schedule {:?} is not configured (add [hours.{}] to the configuration)",
                node.id, h.schedule, h.schedule
            )),
            NodeKind::Route(r) if !SERVICES.contains(&r.service.as_str()) => Some(format!(
                "route {:?}: unknown service {:?} (one of {})",
                node.id,
                r.service,
                SERVICES.join(", ")
            )),
            _ => None,
        };
        if let NodeKind::Transfer(t) = &node.kind {
            let by_number_only = ctx.partners.get(&t.partner).is_some_and(|p| {
                p.contacts()
                    .iter()
                    .all(|c| matches!(c, senim_routing::partners::Contact::Number(_)))
            });
            if by_number_only && !ctx.has_trunk {
                out.push(Diagnostic {
                    path: plan.source().to_path_buf(),
                    line: node.pos.line,
                    column: node.pos.column,
                    severity: Severity::Warning,
                    message: format!(
                        "transfer {:?}: partner {:?} is reached by number only and no [[trunk]] \
                         is configured: the transfer cannot be placed and the caller hears the \
                         fallback (docs/trunks.md)",
                        node.id, t.partner
                    ),
                });
            }
        }
        if let Some(message) = fault {
            out.push(Diagnostic {
                path: plan.source().to_path_buf(),
                line: node.pos.line,
                column: node.pos.column,
                severity: Severity::Error,
                message,
            });
        }
    }
    out
}

/// The outcome of the last load or reload, for logs and HTTP.
#[derive(Debug, Clone, Serialize)]
pub struct PlanStatus {
    pub file: String,
    /// Short hash of the file being served.
    pub version: String,
    pub loaded_at_ms: i64,
    pub reloads: u64,
    pub last_attempt_at_ms: i64,
    pub last_ok: bool,
    pub last_trigger: String,
    /// Errors of a refused reload, or warnings of an accepted one.
    pub last_messages: Vec<String>,
}

/// The result of a reload.
#[derive(Debug, Clone, Serialize)]
pub struct Reload {
    pub accepted: bool,
    pub status: PlanStatus,
}

/// Holds the plan new calls start with.
pub struct PlanHolder {
    /// `None`: the embedded default plan. A reload of the configuration may
    /// name another file.
    path: RwLock<Option<PathBuf>>,
    current: RwLock<Arc<Plan>>,
    status: Mutex<PlanStatus>,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn lines(d: &[Diagnostic]) -> Vec<String> {
    d.iter().map(ToString::to_string).collect()
}

impl PlanHolder {
    /// Load the first plan; errors are returned as printable lines.
    pub fn load(path: Option<&Path>, ctx: &Context<'_>) -> Result<PlanHolder, Vec<String>> {
        let (plan, warnings) = load(path, ctx).map_err(|d| lines(&d))?;
        Ok(PlanHolder::serving(path, plan, &warnings))
    }

    /// Serve `plan`, loaded and checked from `path` with `warnings`.
    pub fn serving(path: Option<&Path>, plan: Plan, warnings: &[Diagnostic]) -> PlanHolder {
        for w in warnings {
            tracing::warn!("{w}");
        }
        let now = now_ms();
        let status = PlanStatus {
            file: file_name(path),
            version: plan.digest(),
            loaded_at_ms: now,
            reloads: 0,
            last_attempt_at_ms: now,
            last_ok: true,
            last_trigger: "start".into(),
            last_messages: lines(warnings),
        };
        PlanHolder {
            path: RwLock::new(path.map(Path::to_path_buf)),
            current: RwLock::new(Arc::new(plan)),
            status: Mutex::new(status),
        }
    }

    /// The plan's file, or `None` for the embedded default plan.
    pub fn path(&self) -> Option<PathBuf> {
        self.path
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The plan a new call starts with.
    pub fn current(&self) -> Arc<Plan> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub fn status(&self) -> PlanStatus {
        self.status
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Re-read the file. When accepted, new calls take the new plan; when
    /// refused, the old plan stays and the status's messages say why.
    pub fn reload(&self, ctx: &Context<'_>, trigger: &str) -> Reload {
        // Reloads of a running Senim come one at a time (`reload::live`), so
        // no `install` of another file comes between reading and serving.
        let path = self.path();
        let result = load(path.as_deref(), ctx);
        let mut status = self.status.lock().unwrap_or_else(PoisonError::into_inner);
        match result {
            Ok((plan, warnings)) => self.take(&mut status, plan, &warnings, trigger),
            Err(errors) => {
                let now = now_ms();
                status.last_attempt_at_ms = now;
                status.last_trigger = trigger.to_string();
                status.last_ok = false;
                status.last_messages = lines(&errors);
                tracing::error!(trigger, version = %status.version, "dialplan reload refused; the previous plan keeps serving");
                for e in &errors {
                    tracing::error!("{e}");
                }
                Reload {
                    accepted: false,
                    status: status.clone(),
                }
            }
        }
    }

    /// Record a plan refused by a reload of the whole configuration
    /// (`errors` are its `file:line:column` lines): the plan in service
    /// stays, and the status says why the new one was not taken.
    pub fn record_refusal(&self, errors: &[String], trigger: &str) {
        let mut status = self.status.lock().unwrap_or_else(PoisonError::into_inner);
        status.last_attempt_at_ms = now_ms();
        status.last_trigger = trigger.to_string();
        status.last_ok = false;
        status.last_messages = errors.to_vec();
    }

    /// Serve `plan`, loaded and checked from `path` (a reload of the whole
    /// configuration, which may name another file): new calls take it.
    pub fn install(
        &self,
        path: Option<&Path>,
        plan: Plan,
        warnings: &[Diagnostic],
        trigger: &str,
    ) -> Reload {
        let mut status = self.status.lock().unwrap_or_else(PoisonError::into_inner);
        *self.path.write().unwrap_or_else(PoisonError::into_inner) = path.map(Path::to_path_buf);
        status.file = file_name(path);
        self.take(&mut status, plan, warnings, trigger)
    }

    fn take(
        &self,
        status: &mut PlanStatus,
        plan: Plan,
        warnings: &[Diagnostic],
        trigger: &str,
    ) -> Reload {
        let now = now_ms();
        let version = plan.digest();
        let changed = version != status.version;
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(plan);
        status.version = version;
        status.loaded_at_ms = now;
        status.last_attempt_at_ms = now;
        status.last_trigger = trigger.to_string();
        status.reloads += 1;
        status.last_ok = true;
        status.last_messages = lines(warnings);
        tracing::info!(version = %status.version, trigger, changed, "dialplan reloaded");
        for w in warnings {
            tracing::warn!("{w}");
        }
        Reload {
            accepted: true,
            status: status.clone(),
        }
    }
}

/// The plan's file as messages name it.
fn file_name(path: Option<&Path>) -> String {
    path.map_or_else(
        || crate::bundled::DIALPLAN_NAME.to_string(),
        |p| p.display().to_string(),
    )
}

/// Reload the dialplan of a running Senim, checked against what new calls
/// take (the prompts, schedules, partners and lines of the configuration in
/// service, and `first_prompt_limit` of the configuration in service).
/// Called on a change of the file and from HTTP.
pub fn reload_plan(
    plans: &PlanHolder,
    call: &senim_call::config::CallConfig,
    first_prompt_limit: std::time::Duration,
    trigger: &str,
) -> Reload {
    plans.reload(
        &Context {
            prompts: &call.prompts,
            schedules: &call.schedules,
            partners: &call.partners,
            lines: &call.lines,
            has_trunk: !call.outbound.trunks.is_empty(),
            first_prompt_limit,
        },
        trigger,
    )
}
