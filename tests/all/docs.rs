//! The documents a newcomer reads stay true to the repository: every relative link and in-page
//! anchor in README.md and docs/*.md resolves, and every example command in their code blocks is one
//! the command line accepts, parsed by llmviz's own clap parser, so that a renamed flag fails here
//! rather than in a reader's shell. Synopses (`[--model M]`, `WxH`, `FILE...`) are text, not examples.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use clap::Parser;
use clap::error::ErrorKind;
use llmviz::cli::Cli;

/// A line of a Markdown document: its number (from 1), its text, and whether it lies in a fenced
/// code block (the fences included).
struct DocLine<'a> {
    number: usize,
    text: &'a str,
    code: bool,
}

fn doc_lines(markdown: &str) -> Vec<DocLine<'_>> {
    let mut fenced = false;
    let mut lines = Vec::new();
    for (index, text) in markdown.lines().enumerate() {
        let fence = text.trim_start().starts_with("```") || text.trim_start().starts_with("~~~");
        if fence {
            fenced = !fenced;
        }
        lines.push(DocLine { number: index + 1, text, code: fenced || fence });
    }
    lines
}

/// README.md, then every Markdown file of docs/.
fn documents() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .expect("docs/ is readable")
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.extension().is_some_and(|extension| extension == "md"))
        .collect();
    files.sort();
    files.insert(0, root.join("README.md"));
    files
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A path as the repository names it, for messages.
fn shown(path: &Path) -> String {
    path.strip_prefix(env!("CARGO_MANIFEST_DIR")).unwrap_or(path).display().to_string()
}

/// What one check found in one or more documents: how many links or commands it looked at, and
/// each problem as `FILE:LINE: what` with the offending line under it.
#[derive(Default)]
struct Checked {
    count: usize,
    problems: Vec<String>,
}

impl Checked {
    fn report(&mut self, document: &Path, line: &DocLine<'_>, problem: &str) {
        self.problems.push(format!("{}:{}: {problem}\n    {}", shown(document), line.number, line.text.trim()));
    }
}

/// The text of an ATX heading (`## Title`) without its hashes; None for any other line.
fn heading_text(line: &str) -> Option<&str> {
    let rest = line.trim_start_matches('#');
    let hashes = line.len() - rest.len();
    ((1..=6).contains(&hashes) && (rest.is_empty() || rest.starts_with(' '))).then(|| rest.trim())
}

/// The anchor GitHub gives a heading: lower case, spaces to hyphens, punctuation other than `-`
/// and `_` dropped (so `` `llmviz bench`, natively `` is `llmviz-bench-natively`).
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|&c| c.is_alphanumeric() || matches!(c, '-' | '_' | ' '))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// The anchors of a document's headings outside code blocks; a repeated heading's anchor gets
/// `-1`, `-2`, ... as on GitHub.
fn anchors(markdown: &str) -> Vec<String> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut found = Vec::new();
    for line in doc_lines(markdown).into_iter().filter(|line| !line.code) {
        let Some(heading) = heading_text(line.text) else { continue };
        let base = slug(heading);
        let count = seen.entry(base.clone()).or_insert(0);
        found.push(if *count == 0 { base } else { format!("{base}-{count}") });
        *count += 1;
    }
    found
}

/// The targets of a line's links and images, `[text](target)` and `[name]: target`, outside
/// inline code.
fn link_targets(line: &str) -> Vec<String> {
    let mut targets = Vec::new();
    // Between an odd and an even backtick is inline code: `[text](block:PATTERN)` shows syntax.
    for part in line.split('`').step_by(2) {
        let mut rest = part;
        while let Some(start) = rest.find("](") {
            let after = &rest[start + 2..];
            let end = after.find(')').unwrap_or(after.len());
            let target = after[..end].split_whitespace().next().unwrap_or_default();
            targets.push(target.trim_matches(['<', '>']).to_string());
            rest = &after[end..];
        }
    }
    let definition = line.trim_start().strip_prefix('[').and_then(|rest| rest.split_once("]: "));
    if let Some((_, target)) = definition {
        targets.push(target.split_whitespace().next().unwrap_or_default().to_string());
    }
    targets
}

/// True for a link to a site or another scheme (`https:`, `mailto:`), which this test does not follow.
fn is_external(target: &str) -> bool {
    target.split_once(':').is_some_and(|(scheme, _)| {
        !scheme.is_empty() && scheme.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    })
}

/// What is wrong with a link to `target` from `document` (whose text is `markdown`), if anything:
/// a file that does not exist, or an anchor that no heading of the Markdown file it names has.
fn broken_link(document: &Path, markdown: &str, target: &str) -> Option<String> {
    let (path, anchor) = target.split_once('#').unwrap_or((target, ""));
    let file = if path.is_empty() { document.to_path_buf() } else { document.parent()?.join(path) };
    if !file.exists() {
        return Some(format!("link `{target}`: there is no {}", shown(&file)));
    }
    if anchor.is_empty() || file.extension().is_none_or(|extension| extension != "md") {
        return None;
    }
    let text = if path.is_empty() { markdown.to_string() } else { read(&file) };
    (!anchors(&text).iter().any(|name| name == anchor))
        .then(|| format!("link `{target}`: no heading of {} has the anchor #{anchor}", shown(&file)))
}

/// Every relative link of a document outside code blocks, checked.
fn check_links(document: &Path, markdown: &str) -> Checked {
    let mut checked = Checked::default();
    for line in doc_lines(markdown).iter().filter(|line| !line.code) {
        for target in link_targets(line.text).iter().filter(|target| !is_external(target)) {
            checked.count += 1;
            if let Some(problem) = broken_link(document, markdown, target) {
                checked.report(document, line, &problem);
            }
        }
    }
    checked
}

/// A word of a shell command line, and whether any of it was quoted.
#[derive(Default)]
struct Word {
    text: String,
    quoted: bool,
}

/// A command line split into words as a POSIX shell splits it (single and double quotes,
/// backslashes), up to an unquoted `#` that starts a word (a comment); an error for an unclosed quote.
fn shell_words(line: &str) -> Result<Vec<Word>, String> {
    let mut words = Vec::new();
    let mut word: Option<Word> = None;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' => words.extend(word.take()),
            '#' if word.is_none() => break,
            '\'' | '"' => {
                let current = word.get_or_insert_with(Word::default);
                current.quoted = true;
                loop {
                    match chars.next() {
                        None => return Err(format!("an unclosed {c}")),
                        Some(close) if close == c => break,
                        Some('\\') if c == '"' => current.text.extend(chars.next()),
                        Some(other) => current.text.push(other),
                    }
                }
            }
            '\\' => word.get_or_insert_with(Word::default).text.extend(chars.next()),
            other => word.get_or_insert_with(Word::default).text.push(other),
        }
    }
    words.extend(word);
    Ok(words)
}

/// True when a word holds an ALL-CAPS placeholder, alone or in a path: PATH, N, FILE.png,
/// models/NAME, WxH. nano's letters (CBABBC) are a value, not a placeholder.
fn has_placeholder(word: &str) -> bool {
    let capitals = |part: &str| {
        part.starts_with(|c: char| c.is_ascii_uppercase())
            && part.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
    };
    word.split(['.', '/', ',', ':', '=']).any(|token| {
        let letters = token.chars().all(|c| matches!(c, 'A' | 'B' | 'C'));
        !token.is_empty() && !letters && token.split('x').all(capitals)
    })
}

/// The words of the example `llmviz` command on a code block's line (`cargo run --release -- ARGS`
/// counts as `llmviz ARGS`), its comment left out; None for a line that is no such command, shows a
/// synopsis (`[optional]`, `a|b`, `...`, an ALL-CAPS placeholder), pipes, redirects or substitutes.
fn example_command(line: &str) -> Option<Result<Vec<String>, String>> {
    let line = line.trim();
    let command = match line.strip_prefix("cargo run --release -- ") {
        Some(arguments) => format!("llmviz {arguments}"),
        None => line.to_string(),
    };
    if command != "llmviz" && !command.starts_with("llmviz ") {
        return None;
    }
    let words = match shell_words(&command) {
        Ok(words) => words,
        Err(error) => return Some(Err(error)),
    };
    let marks = ["[", "]", "|", "...", "…", ">", "$("];
    let synopsis = words.iter().any(|word| marks.iter().any(|mark| word.text.contains(mark)))
        || words.iter().any(|word| !word.quoted && has_placeholder(&word.text));
    (!synopsis).then(|| Ok(words.into_iter().map(|word| word.text).collect()))
}

/// Why the command line's own parser refuses `words`, or None when it takes them (asking for help
/// or the version counts as taking them).
fn refused(words: &[String]) -> Option<String> {
    match Cli::try_parse_from(words) {
        Ok(_) => None,
        Err(error) if matches!(error.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => None,
        Err(error) => Some(error.to_string().lines().next().unwrap_or_default().to_string()),
    }
}

/// Every example command in a document's code blocks, parsed.
fn check_commands(document: &Path, markdown: &str) -> Checked {
    let mut checked = Checked::default();
    for line in doc_lines(markdown).iter().filter(|line| line.code) {
        let problem = match example_command(line.text) {
            None => continue,
            Some(Err(error)) => error,
            Some(Ok(words)) => {
                checked.count += 1;
                match refused(&words) {
                    None => continue,
                    Some(error) => error,
                }
            }
        };
        checked.report(document, line, &problem);
    }
    checked
}

/// One check over README.md and every file of docs/.
fn check_documents(check: fn(&Path, &str) -> Checked) -> Checked {
    let mut all = Checked::default();
    for document in documents() {
        let checked = check(&document, &read(&document));
        all.count += checked.count;
        all.problems.extend(checked.problems);
    }
    all
}

#[test]
fn every_link_and_anchor_in_the_documents_resolves() {
    let checked = check_documents(check_links);
    assert!(checked.problems.is_empty(), "broken links:\n{}", checked.problems.join("\n"));
    assert!(checked.count >= 30, "only {} relative links found: are the documents read?", checked.count);
}

#[test]
fn every_example_command_in_the_documents_parses() {
    let checked = check_documents(check_commands);
    assert!(checked.problems.is_empty(), "commands the CLI refuses:\n{}", checked.problems.join("\n"));
    assert!(checked.count >= 30, "only {} example commands found: are the documents read?", checked.count);
}

#[test]
fn anchors_are_github_slugs_outside_code() {
    let markdown = "# The page's figures\n## `llmviz bench`, natively\n```sh\n# a comment\n```\n## Soak\n## Soak\n#tag";
    assert_eq!(anchors(markdown), ["the-pages-figures", "llmviz-bench-natively", "soak", "soak-1"]);
}

#[test]
fn synopses_placeholders_and_other_programs_are_not_examples() {
    let words = |line: &str| example_command(line).map(|parsed| parsed.expect("quotes closed"));
    assert_eq!(words("llmviz        # the app"), Some(vec!["llmviz".to_string()]));
    assert_eq!(
        words("  cargo run --release -- tokenize --text 'A # B' --json   # CBABBC's tokens"),
        Some(["llmviz", "tokenize", "--text", "A # B", "--json"].map(String::from).to_vec())
    );
    assert_eq!(words("llmviz --lang zh-CN --input CBABBC").map(|found| found.len()), Some(5));
    let not_examples = [
        "llmviz eval [--weights PATH]",
        "llmviz bench --size WxH",
        "llmviz tour check FILE...",
        "llmviz fetch gpt2|gpt2-xl",
        "llmviz inspect --text \"...\"",
        "llmviz screenshot --out FILE.png",
        "llmviz layout --json > layout.json",
        "./test.sh fuzz",
        "llmvizard --help",
    ];
    for line in not_examples {
        assert!(words(line).is_none(), "taken as an example: {line}");
    }
}

/// The checks fail where they should: a scratch README with a missing file, two lost anchors, a
/// misspelt flag and an unclosed quote, beside good links and commands and text that only looks
/// like them (inline code, a site, a placeholder).
#[test]
fn the_checks_catch_a_broken_link_a_lost_anchor_and_a_refused_command() {
    let readme = Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
    let scratch = [
        "# Title",
        "",
        "See [the synopsis](docs/cli.md#synopsis), [the top](#title), [a site](https://example.com).",
        "[gone](docs/no-such-file.md), [lost](#no-such-heading), [far](docs/cli.md#no-such-heading)",
        "`[syntax](block:PATTERN)` and `[a](missing.md)`",
        "",
        "```sh",
        "llmviz bench --model gpt3 --frames 10",
        "llmviz bench --modle gpt3",
        "llmviz bench --weights PATH --text TEXT",
        "llmviz tokenize --text \"unclosed",
        "```",
    ]
    .join("\n");
    let links = check_links(&readme, &scratch);
    assert_eq!(links.count, 5, "{:#?}", links.problems);
    assert_eq!(links.problems.len(), 3, "{:#?}", links.problems);
    let [gone, lost, far] = &links.problems[..] else { unreachable!() };
    assert!(gone.starts_with("README.md:4: link `docs/no-such-file.md`: there is no docs/no-such-file.md"), "{gone}");
    assert!(lost.contains("no heading of README.md has the anchor #no-such-heading"), "{lost}");
    assert!(far.contains("no heading of docs/cli.md has the anchor #no-such-heading"), "{far}");
    assert!(far.ends_with("[far](docs/cli.md#no-such-heading)"), "the line is shown: {far}");

    let commands = check_commands(&readme, &scratch);
    assert_eq!(commands.count, 2, "{:#?}", commands.problems);
    assert_eq!(commands.problems.len(), 2, "{:#?}", commands.problems);
    let [misspelt, unclosed] = &commands.problems[..] else { unreachable!() };
    assert!(misspelt.starts_with("README.md:9: error: unexpected argument '--modle'"), "{misspelt}");
    assert!(misspelt.ends_with("\n    llmviz bench --modle gpt3"), "the line is shown: {misspelt}");
    assert!(unclosed.starts_with("README.md:11: an unclosed \""), "{unclosed}");
}
