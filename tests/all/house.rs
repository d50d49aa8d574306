//! The house rules a newcomer relies on, checked on the source itself: data flows one way (the
//! renderer never names the command line or the page; the model, layout, tour and explain name no
//! Bevy or egui), and no function is longer than a screen.

use std::path::{Path, PathBuf};

/// The longest function allowed, from `fn` to its closing brace, comments and blank lines included.
const MAX_FUNCTION_LINES: usize = 100;

fn source_files(under: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(under);
    if root.is_file() {
        return vec![root];
    }
    let mut files = Vec::new();
    let mut folders = vec![root];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).unwrap_or_else(|e| panic!("{}: {e}", folder.display())) {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                folders.push(path);
            } else if path.extension().is_some_and(|extension| extension == "rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// The source with string and character literals and comments blanked out (newlines kept), so
/// that braces and names are only those of the code.
fn code_only(source: &str) -> String {
    let chars: Vec<char> = source.chars().collect();
    let mut out = String::with_capacity(source.len());
    let mut i = 0;
    let blank = |c: char| if c == '\n' { '\n' } else { ' ' };
    while i < chars.len() {
        let rest = &chars[i..];
        if rest.starts_with(&['/', '/']) {
            while i < chars.len() && chars[i] != '\n' {
                out.push(' ');
                i += 1;
            }
        } else if rest.starts_with(&['/', '*']) {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i..].starts_with(&['/', '*']) {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if chars[i..].starts_with(&['*', '/']) {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(blank(chars[i]));
                    i += 1;
                }
            }
        } else if chars[i] == '"' {
            out.push(' ');
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                let skip = if chars[i] == '\\' { 2 } else { 1 };
                for &c in &chars[i..(i + skip).min(chars.len())] {
                    out.push(blank(c));
                }
                i += skip;
            }
            out.push(' ');
            i += 1;
        } else if chars[i] == '\'' && (chars.get(i + 2) == Some(&'\'') || chars.get(i + 1) == Some(&'\\')) {
            // A character literal ('x' or '\n'), not a lifetime ('a).
            let end = (i + 1..chars.len()).find(|&j| chars[j] == '\'' && j > i + 1).unwrap_or(i + 2);
            for _ in i..=end {
                out.push(' ');
            }
            i = end + 1;
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out
}

/// Every function's name, first line and length in lines, from `fn` to its closing brace.
fn functions(source: &str) -> Vec<(String, usize, usize)> {
    let code = code_only(source);
    let lines: Vec<&str> = code.lines().collect();
    let mut found = Vec::new();
    for (start, line) in lines.iter().enumerate() {
        let words: Vec<&str> =
            line.split(|c: char| !(c.is_alphanumeric() || c == '_')).filter(|w| !w.is_empty()).collect();
        let Some(position) = words.iter().position(|word| *word == "fn") else { continue };
        let Some(name) = words.get(position + 1) else { continue };
        let fn_at = line.match_indices("fn").map(|(at, _)| at).find(|&at| {
            let before = line[..at].chars().next_back();
            let after = line[at + 2..].chars().next();
            before.is_none_or(|c| !(c.is_alphanumeric() || c == '_')) && after == Some(' ')
        });
        let Some(fn_at) = fn_at else { continue };
        let (mut depth, mut brackets) = (0i32, 0i32);
        let mut opened = false;
        'body: for (offset, body_line) in lines[start..].iter().enumerate() {
            let body_line = if offset == 0 { &body_line[fn_at..] } else { body_line };
            for c in body_line.chars() {
                match c {
                    '{' => {
                        depth += 1;
                        opened = true;
                    }
                    '}' => depth -= 1,
                    '(' | '[' => brackets += 1,
                    ')' | ']' => brackets -= 1,
                    // A declaration without a body, in a trait or an extern block (not the `;` of
                    // an array type in the signature).
                    ';' if !opened && brackets == 0 => break 'body,
                    _ => {}
                }
                if opened && depth == 0 {
                    found.push((name.to_string(), start + 1, offset + 1));
                    break 'body;
                }
            }
        }
    }
    found
}

#[test]
fn the_function_scanner_counts_from_fn_to_its_closing_brace() {
    let source = "fn short() {}\n\n/// braces in \"{\" and '}' are text\nfn three(x: [u8; 2]) -> u8 {\n    let s = \"}}\"; // }\n    x[0]\n}\ntrait T { fn declared(&self); }\n";
    let found = functions(source);
    assert_eq!(found, vec![("short".to_string(), 1, 1), ("three".to_string(), 4, 4)]);
}

#[test]
fn no_function_is_longer_than_a_hundred_lines() {
    let mut long = Vec::new();
    for file in source_files("src") {
        let source = std::fs::read_to_string(&file).expect("a readable source file");
        for (name, line, length) in functions(&source) {
            if length > MAX_FUNCTION_LINES {
                long.push(format!("{}:{line} {name}: {length} lines", file.display()));
            }
        }
    }
    assert!(long.is_empty(), "functions over {MAX_FUNCTION_LINES} lines:\n{}", long.join("\n"));
}

/// Lines of the files under `folder` that contain any of `names`, comments included.
fn mentions(folder: &str, names: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    for file in source_files(folder) {
        let source = std::fs::read_to_string(&file).expect("a readable source file");
        for (number, line) in source.lines().enumerate() {
            if names.iter().any(|name| line.contains(name)) {
                found.push(format!("{}:{}: {}", file.display(), number + 1, line.trim()));
            }
        }
    }
    found
}

#[test]
fn the_renderer_never_reaches_into_the_command_line_or_the_page() {
    let found = mentions(
        "src/render",
        &["crate::cli", "crate::{cli", "crate::web", "super::super::web", "crate::{web", "clap::"],
    );
    assert!(found.is_empty(), "{}", found.join("\n"));
}

#[test]
fn model_layout_tour_explain_and_i18n_know_nothing_of_bevy_or_egui() {
    for part in ["src/model", "src/layout", "src/tour", "src/explain.rs", "src/explain", "src/i18n.rs"] {
        let found = mentions(part, &["bevy::", "bevy_egui", "egui::", "bevy_tweening"]);
        assert!(found.is_empty(), "{}", found.join("\n"));
    }
}
