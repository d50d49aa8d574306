//! The house rules a newcomer relies on, checked on the source itself: data flows one way (the
//! renderer never names the command line or the page; the model, layout, tour and explain name no
//! Bevy or egui; the renderer's rooms import only from the rooms below them), errors name no flag,
//! no function is longer than a screen and none takes a tuple for a parameter.

use std::path::{Path, PathBuf};

/// The longest function allowed, from `fn` to its closing brace, comments and blank lines included.
const MAX_FUNCTION_LINES: usize = 60;

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
    split_code(source).0
}

/// The source's string literals, each with the line it starts on.
fn string_literals(source: &str) -> Vec<(usize, String)> {
    split_code(source).1
}

/// The source with literals and comments blanked (`code_only`), and its string literals.
fn split_code(source: &str) -> (String, Vec<(usize, String)>) {
    let chars: Vec<char> = source.chars().collect();
    let mut out = String::with_capacity(source.len());
    let mut strings = Vec::new();
    let mut i = 0;
    let blank = |c: char| if c == '\n' { '\n' } else { ' ' };
    let line_of = |out: &String| out.matches('\n').count() + 1;
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
            let line = line_of(&out);
            let mut text = String::new();
            out.push(' ');
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                let skip = if chars[i] == '\\' { 2 } else { 1 };
                for &c in &chars[i..(i + skip).min(chars.len())] {
                    out.push(blank(c));
                    text.push(c);
                }
                i += skip;
            }
            strings.push((line, text));
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
    (out, strings)
}

/// The source before its first `#[cfg(test)]`: the code without its unit tests, which in this
/// tree always close a file.
fn without_tests(source: &str) -> &str {
    let code = code_only(source);
    match code.find("#[cfg(test)]") {
        // Blanking keeps every character's place, so the offset is the source's too.
        Some(at) => &source[..source.char_indices().nth(code[..at].chars().count()).map_or(source.len(), |(b, _)| b)],
        None => source,
    }
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
fn no_function_is_longer_than_sixty_lines() {
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

/// The rooms of `src/render`, bottom to top: a room imports from the rooms below it and from
/// `render` itself, never from a room above it.
const ROOMS: [&str; 5] = ["scene", "view", "overlay", "tour", "run"];

/// The imports of a file in room `room` that reach a room above it, as `line: room`.
fn imports_up(room: &str, source: &str) -> Vec<String> {
    let level = ROOMS.iter().position(|r| *r == room).expect("a room of ROOMS");
    let code = code_only(source);
    let mut found = Vec::new();
    for (number, line) in code.lines().enumerate() {
        for prefix in ["crate::render::", "super::super::"] {
            for (at, _) in line.match_indices(prefix) {
                let name: String =
                    line[at + prefix.len()..].chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                if ROOMS.iter().position(|r| *r == name).is_some_and(|other| other > level) {
                    found.push(format!("{}: {name}", number + 1));
                }
            }
        }
    }
    found
}

#[test]
fn the_room_check_finds_an_import_running_up() {
    let source =
        "use crate::render::scene::blocks::BlockScene;\n// crate::render::run\nfn f() { super::super::tour::x(); }\n";
    assert_eq!(imports_up("view", source), vec!["3: tour".to_string()]);
    assert_eq!(imports_up("run", source), Vec::<String>::new());
}

#[test]
fn every_folder_of_the_renderer_is_a_room_in_order() {
    let render = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/render");
    let mut folders: Vec<String> = std::fs::read_dir(&render)
        .expect("src/render")
        .map(|entry| entry.expect("an entry").path())
        .filter(|path| path.is_dir())
        .map(|path| path.file_name().expect("a name").to_string_lossy().into_owned())
        .collect();
    folders.sort();
    let mut rooms = ROOMS.map(str::to_string).to_vec();
    rooms.sort();
    assert_eq!(folders, rooms, "src/render's folders are the rooms of ROOMS");
    let loose: Vec<_> = source_files("src/render").into_iter().filter(|file| file.parent() == Some(&render)).collect();
    assert_eq!(loose, vec![render.join("mod.rs")], "src/render holds only mod.rs beside its rooms");
}

#[test]
fn no_room_of_the_renderer_imports_from_a_room_above_it() {
    let mut found = Vec::new();
    for room in ROOMS {
        for file in source_files(&format!("src/render/{room}")) {
            let source = std::fs::read_to_string(&file).expect("a readable source file");
            found.extend(imports_up(room, &source).into_iter().map(|hit| format!("{}:{hit}", file.display())));
        }
    }
    assert!(found.is_empty(), "imports into a room above:\n{}", found.join("\n"));
}

#[test]
fn the_model_layout_tour_and_renderer_name_no_flag() {
    let mut found = Vec::new();
    for part in ["src/render", "src/model", "src/layout", "src/tour"] {
        for file in source_files(part) {
            let source = std::fs::read_to_string(&file).expect("a readable source file");
            for (line, text) in string_literals(without_tests(&source)) {
                if text.contains("--") {
                    found.push(format!("{}:{line}: \"{text}\"", file.display()));
                }
            }
        }
    }
    assert!(found.is_empty(), "strings naming a flag (the command line words errors itself):\n{}", found.join("\n"));
}

#[test]
fn the_string_scanner_skips_comments_and_tests() {
    let source = "// \"--a\"\nconst A: &str = \"--b\";\n#[cfg(test)]\nmod tests { const C: &str = \"--c\"; }\n";
    assert_eq!(string_literals(without_tests(source)), vec![(2, "--b".to_string())]);
}

/// The parameters of every function whose type is a tuple, as `name: type`, with the line.
fn tuple_parameters(source: &str) -> Vec<(usize, String)> {
    let code = code_only(source);
    let chars: Vec<char> = code.chars().collect();
    let mut found = Vec::new();
    let mut i = 0;
    while i + 3 < chars.len() {
        let is_fn = chars[i..].starts_with(&['f', 'n', ' '])
            && (i == 0 || !(chars[i - 1].is_alphanumeric() || chars[i - 1] == '_'));
        if !is_fn {
            i += 1;
            continue;
        }
        let line = chars[..i].iter().filter(|c| **c == '\n').count() + 1;
        // Past the name and any generics, to the parameters' opening bracket.
        let mut j = i + 3;
        let mut angle = 0;
        while j < chars.len() && !(chars[j] == '(' && angle == 0) {
            match chars[j] {
                '<' => angle += 1,
                '>' if chars[j - 1] != '-' => angle -= 1,
                '{' | ';' if angle == 0 => break,
                _ => {}
            }
            j += 1;
        }
        if j >= chars.len() || chars[j] != '(' {
            i = j;
            continue;
        }
        let mut depth = 0;
        let mut parameter = String::new();
        let mut parameters = Vec::new();
        for &c in &chars[j + 1..] {
            match c {
                '(' | '[' | '<' | '{' => depth += 1,
                ')' | ']' | '}' => depth -= 1,
                '>' if !parameter.ends_with('-') => depth -= 1,
                _ => {}
            }
            if depth < 0 || (c == ',' && depth == 0) {
                parameters.push(std::mem::take(&mut parameter));
                if depth < 0 {
                    break;
                }
            } else {
                parameter.push(c);
            }
        }
        for parameter in parameters {
            let Some((_, ty)) = split_parameter(&parameter) else { continue };
            let ty = ty.trim_start_matches(['&', ' ', '\n']);
            let ty = ty.strip_prefix("mut ").unwrap_or(ty).trim_start();
            if ty.starts_with('(') && !ty.starts_with("()") {
                found.push((line, parameter.split_whitespace().collect::<Vec<_>>().join(" ")));
            }
        }
        i = j;
    }
    found
}

/// A parameter's pattern and type, split at its first colon outside brackets (not a path's `::`).
fn split_parameter(parameter: &str) -> Option<(&str, &str)> {
    let mut depth = 0;
    let bytes = parameter.as_bytes();
    for (at, &b) in bytes.iter().enumerate() {
        match b {
            b'(' | b'[' | b'<' => depth += 1,
            b')' | b']' | b'>' => depth -= 1,
            b':' if depth == 0 && bytes.get(at + 1) != Some(&b':') && (at == 0 || bytes[at - 1] != b':') => {
                return Some((&parameter[..at], &parameter[at + 1..]));
            }
            _ => {}
        }
    }
    None
}

#[test]
fn the_tuple_scanner_finds_tuple_parameters_only() {
    let source = "fn a((x, y): (Res<A>, Res<B>), z: &mut (u8, u8), f: impl Fn(u8) -> u8, l: Local<(u8, u8)>) {}\nfn b<T: Fn(u8) -> (u8, u8)>(t: T, u: ()) {}\n";
    let found: Vec<String> = tuple_parameters(source).into_iter().map(|(_, p)| p).collect();
    assert_eq!(found, vec!["(x, y): (Res<A>, Res<B>)".to_string(), "z: &mut (u8, u8)".to_string()]);
}

#[test]
fn no_function_takes_a_tuple_for_a_parameter() {
    let mut found = Vec::new();
    for file in source_files("src") {
        let source = std::fs::read_to_string(&file).expect("a readable source file");
        for (line, parameter) in tuple_parameters(&source) {
            found.push(format!("{}:{line}: {parameter}", file.display()));
        }
    }
    assert!(
        found.is_empty(),
        "tuple-typed parameters (a SystemParam or a struct named for its role reads better):\n{}",
        found.join("\n")
    );
}
