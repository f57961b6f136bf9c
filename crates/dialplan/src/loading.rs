//! Loading a plan: read the file, parse it, check it, and return the plan
//! with its warnings or the list of diagnostics.

use std::path::Path;

use crate::diagnostic::{Diagnostic, Severity};
use crate::model::Plan;
use crate::parse;
use crate::prompt_catalog::PromptCatalog;
use crate::validate::{self, EntryPoint};

/// Parse and validate a file. `Ok` with warnings, `Err` with at least one
/// error. Diagnostics are sorted by position.
pub fn load(
    path: &Path,
    prompts: &dyn PromptCatalog,
) -> Result<(Plan, Vec<Diagnostic>), Vec<Diagnostic>> {
    load_with_entries(path, prompts, &[])
}

/// Same as [`load`], with nodes where calls may start besides `start`
/// (the configuration's lines): each must exist, and is checked like `start`.
pub fn load_with_entries(
    path: &Path,
    prompts: &dyn PromptCatalog,
    entries: &[EntryPoint],
) -> Result<(Plan, Vec<Diagnostic>), Vec<Diagnostic>> {
    match std::fs::read(path) {
        Ok(bytes) => match String::from_utf8(bytes) {
            Ok(text) => load_str_with_entries(&text, path, prompts, entries),
            Err(e) => {
                let valid = e.utf8_error().valid_up_to();
                let bytes = e.as_bytes();
                let before = String::from_utf8_lossy(bytes.get(..valid).unwrap_or(&[]));
                let pos = parse::Lines::new(&before).pos(before.len());
                Err(vec![Diagnostic {
                    path: path.to_path_buf(),
                    line: pos.line,
                    column: pos.column,
                    severity: Severity::Error,
                    message: "the file is not valid UTF-8".into(),
                }])
            }
        },
        Err(e) => Err(vec![Diagnostic {
            path: path.to_path_buf(),
            line: 1,
            column: 1,
            severity: Severity::Error,
            message: format!("cannot read the dialplan: {e}"),
        }]),
    }
}

/// Parse a plan and check only what the parser checks (syntax, elements,
/// attributes, values), skipping references, reachability, loops, the silent
/// caller and prompts. For tests of the interpreter's run-time guards and
/// for tools; never serve calls from an unchecked plan.
pub fn load_unchecked(
    text: &str,
    path: &Path,
    prompts: &dyn PromptCatalog,
) -> Result<Plan, Vec<Diagnostic>> {
    let body = text.strip_prefix('\u{feff}').unwrap_or(text);
    let root = parse::parse_xml(body, path)?;
    match parse::build(&root, text, path) {
        (Some(mut plan), d) if !d.iter().any(Diagnostic::is_error) => {
            plan.availability = validate::availability(&plan, prompts);
            Ok(plan)
        }
        (_, d) => Err(d),
    }
}

/// Same as [`load`], from text (`path` is used only in messages and [`Plan::source`]).
pub fn load_str(
    text: &str,
    path: &Path,
    prompts: &dyn PromptCatalog,
) -> Result<(Plan, Vec<Diagnostic>), Vec<Diagnostic>> {
    load_str_with_entries(text, path, prompts, &[])
}

/// Same as [`load_with_entries`], from text.
pub fn load_str_with_entries(
    text: &str,
    path: &Path,
    prompts: &dyn PromptCatalog,
    entries: &[EntryPoint],
) -> Result<(Plan, Vec<Diagnostic>), Vec<Diagnostic>> {
    let body = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut diags = Vec::new();
    let plan = match parse::parse_xml(body, path) {
        Err(d) => {
            diags = d;
            None
        }
        Ok(root) => {
            let (plan, d) = parse::build(&root, text, path);
            diags.extend(d);
            plan
        }
    };
    let plan = plan.map(|mut plan| {
        validate::check(&mut plan, prompts, entries, &mut diags);
        plan
    });
    diags.sort_by_key(|d| (d.line, d.column, d.severity));
    diags.dedup();
    match plan {
        Some(plan) if !diags.iter().any(Diagnostic::is_error) => {
            tracing::debug!(
                path = %path.display(),
                digest = %plan.digest,
                nodes = plan.nodes.len(),
                warnings = diags.len(),
                "dialplan loaded"
            );
            Ok((plan, diags))
        }
        _ => Err(diags),
    }
}
