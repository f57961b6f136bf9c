//! The open files limit. Each call holds a descriptor per RTP port, and
//! a bridged call two ports, so a shell's usual soft limit of 1,024 would
//! refuse calls before `[sip] max_calls` (1,000 by default). Senim raises
//! its soft limit to the hard limit at start, as servers commonly do; the
//! hard limit itself is the operator's (systemd's `LimitNOFILE`).

/// Descriptors a call may need at most: the caller's RTP port and one leg's.
const PER_CALL: u64 = 2;
/// Descriptors for everything else: listeners, the database, log files.
const BASE: u64 = 256;

/// Raise the soft limit to the hard limit. Returns (soft limit now, what
/// `max_calls` calls would need), or None where the limit cannot be read.
pub fn raise(max_calls: u64) -> Option<(u64, u64)> {
    let need = BASE.saturating_add(max_calls.saturating_mul(PER_CALL));
    #[cfg(unix)]
    {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes into the struct it is given.
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
            return None;
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            // SAFETY: setrlimit reads the struct it is given.
            if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
                limit = raised;
            }
        }
        Some((limit.rlim_cur, need))
    }
    #[cfg(not(unix))]
    {
        let _ = need;
        None
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_soft_limit_ends_at_the_hard_limit_and_the_need_grows_with_calls() {
        let Some((now, need)) = super::raise(1000) else {
            return;
        };
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: as above.
        assert_eq!(
            unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) },
            0
        );
        assert_eq!(limit.rlim_cur, limit.rlim_max);
        assert_eq!(now, limit.rlim_max);
        assert_eq!(need, 256 + 2000);
    }
}
