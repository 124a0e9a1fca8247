//! Asking the operator before an irreversible command.

use std::io::{BufRead, IsTerminal, Read, Write};

/// Where a confirmation comes from. Only an interactive prompt may be
/// asked; anything else means "not confirmed".
pub trait Prompt {
    /// Whether a person can answer (stdin is a terminal).
    fn is_interactive(&self) -> bool;

    /// Shows `question` and reads one line of answer.
    fn ask(&mut self, question: &str) -> std::io::Result<String>;
}

/// The process's terminal: the question on stderr (stdout is for results),
/// the answer from stdin.
#[derive(Debug, Default)]
pub struct TerminalPrompt;

impl Prompt for TerminalPrompt {
    fn is_interactive(&self) -> bool {
        std::io::stdin().is_terminal()
    }

    fn ask(&mut self, question: &str) -> std::io::Result<String> {
        let mut stderr = std::io::stderr().lock();
        stderr.write_all(question.as_bytes())?;
        stderr.flush()?;
        let mut answer = String::new();
        // One line, bounded: a confirmation is a word.
        std::io::stdin().lock().take(1024).read_line(&mut answer)?;
        Ok(answer)
    }
}
