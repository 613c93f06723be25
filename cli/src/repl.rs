//! `wasabi repl`: a thin interactive front end over [`wasabi::Session`].
//!
//! One input is read (a whole multi-line form: until its parentheses
//! balance), then handled: module fields are added to the session; spec
//! script directives (`(invoke ...)`, `(assert_return ...)`,
//! `(assert_trap ...)`, `(assert_exhaustion ...)`, `(assert_invalid ...)`,
//! `(assert_malformed ...)`) are run; `name(1, 2)` or
//! `name 1 2` calls a function; `:command`s inspect the session.
//!
//! On a terminal, input is edited with rustyline (history in the user's data
//! directory, multi-line forms kept as one history entry); otherwise lines
//! are read from stdin with no prompt and no editing, so a session can be
//! scripted: every input's output goes to stdout, errors to stdout too,
//! prefixed `error: `, so one stream shows the session in order.
//!
//! What must stay true: nothing typed ends the session except `:quit` and
//! end of input (Ctrl-D). A running call is interrupted by Ctrl-C (SIGINT)
//! or `--timeout`, through the store's interrupt handle (code is compiled
//! with epoch checks); at the prompt Ctrl-C only drops the line being
//! edited.

use anyhow::{anyhow, Result};
use std::cell::RefCell;
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicPtr, Ordering};
use std::time::{Duration, Instant};
use wasabi::{
    CompileMode, Config, Defined, Error, ExternType, InterruptHandle, Linker, Module, OptLevel,
    Session, Store, TargetCpu, Val, ValType,
};
use wasabi_abi::wasi::{self, WasiCtx};
use wasabi_wast::{arg_val, matches_ret};
use wast::core::{NanPattern, WastRetCore};
use wast::parser::{self, ParseBuffer};
use wast::{Wast, WastArg, WastDirective, WastExecute, WastInvoke, WastRet};

/// What `wasabi repl` was asked for.
pub struct ReplOptions {
    pub module: Option<PathBuf>,
    pub dirs: Vec<String>,
    pub envs: Vec<String>,
    pub opt_level: OptLevel,
    pub target_cpu: TargetCpu,
    pub mode: CompileMode,
    pub timeout: Option<Duration>,
}

const HELP: &str = "\
Type module fields in the text format; they are added to the live instance:
  (func $sq (export \"sq\") (param i32) (result i32) local.get 0 local.get 0 i32.mul)
  (memory $m 1)  (global $g (mut i32) (i32.const 0))  (table 4 funcref)
  (type ...)  (import \"wasi_snapshot_preview1\" \"...\" (func ...))  (data ...)  (elem ...)
Redefining a function (same $name, same type) replaces it for every caller.
Calls:
  sq(5)   sq 5   (invoke \"sq\" (i32.const 5))
  (assert_return (invoke \"sq\" (i32.const 5)) (i32.const 25))   (assert_trap ... \"msg\")
Commands:
  :help                 this text
  :load FILE [as NAME]  add a module's definitions (.wat fields, or a binary's exports),
                        or with `as NAME` link it so `(import \"NAME\" ...)` finds it
  :exports              exported names and their types
  :type NAME            the type of a function, global, memory, table or $type
  :memory [ADDR [LEN]]  hex dump of memory 0 (default: 0, 64 bytes)
  :globals              every global and its value
  :stats                functions compiled/total, compile time, definitions
  :reset                forget everything
  :quit                 leave (Ctrl-D too)
Ctrl-C interrupts a running call; Input continues while parentheses are open.";

/// Whether a call into wasm is running (SIGINT interrupts it).
static IN_CALL: AtomicBool = AtomicBool::new(false);
/// The interrupt handle of the session's current store (leaked: one per
/// store, and a store is only replaced by `:reset`).
static HANDLE: AtomicPtr<InterruptHandle> = AtomicPtr::new(std::ptr::null_mut());

/// SIGINT: interrupts the running call; ignored when none runs (at the
/// prompt the terminal is in raw mode and Ctrl-C reaches rustyline as a key
/// instead). A SIGINT landing just as a call returns may leave the request
/// pending, and the next call then stops at once with "interrupted".
extern "C" fn on_sigint(_: libc::c_int) {
    if IN_CALL.load(Ordering::SeqCst) {
        let h = HANDLE.load(Ordering::SeqCst);
        if !h.is_null() {
            // SAFETY: `HANDLE` only ever holds leaked, never freed handles;
            // `interrupt` is two atomic stores (async-signal-safe).
            unsafe { (*h).interrupt() };
        }
    }
}

fn install_sigint() {
    // SAFETY: a plain sigaction with a handler that only touches atomics.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_sigint as *const () as usize;
        libc::sigemptyset(&mut sa.sa_mask);
        sa.sa_flags = libc::SA_RESTART;
        libc::sigaction(libc::SIGINT, &sa, std::ptr::null_mut());
    }
}

fn publish_handle(session: &Session<WasiCtx>) {
    let h = Box::into_raw(Box::new(session.store().interrupt_handle()));
    HANDLE.store(h, Ordering::SeqCst);
}

/// Runs the REPL until `:quit` or end of input.
pub fn repl(o: ReplOptions) -> Result<ExitCode> {
    let engine = crate::plugin::engine(
        Config::new()
            .opt_level(o.opt_level)
            .target_cpu(o.target_cpu)
            .mode(o.mode)
            .epoch_interruption(true)
            // Definitions are one-off modules: never worth caching on disk.
            .cache(false),
    );
    let (dirs, envs) = (o.dirs.clone(), o.envs.clone());
    for kv in &envs {
        kv.split_once('=')
            .ok_or_else(|| anyhow!("--env `{kv}`: expected K=V"))?;
    }
    let session = Session::with_setup(&engine, move |engine| {
        let mut wasi = WasiCtx::builder().arg("repl");
        for kv in &envs {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            wasi = wasi.env(k, v);
        }
        for d in &dirs {
            let (host, guest) = d.split_once("::").unwrap_or((d, d));
            wasi = wasi.preopened_dir(host, guest);
        }
        let wasi = wasi
            .build()
            .map_err(|e| Error::Resource(format!("WASI: {e}")))?;
        let store = Store::new(engine, wasi);
        let mut linker = Linker::new(engine);
        wasi::add_to_linker(&mut linker, |ctx: &mut WasiCtx| ctx)?;
        Ok((store, linker))
    })
    .map_err(|e| anyhow!("{e}"))?;
    let mut repl = Repl {
        session,
        timeout: o.timeout,
    };
    publish_handle(&repl.session);
    install_sigint();
    if let Some(m) = &o.module {
        repl.load(&m.display().to_string());
    }
    let tty = std::io::stdin().is_terminal();
    if tty {
        interactive(&mut repl)?;
    } else {
        plain(&mut repl)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Reads stdin line by line (no prompt, no editing).
fn plain(repl: &mut Repl) -> Result<()> {
    let stdin = std::io::stdin();
    let mut lock = stdin.lock();
    let mut buf = String::new();
    loop {
        let mut line = String::new();
        match lock.read_line(&mut line) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => return Err(e.into()),
        }
        buf.push_str(&line);
        if !complete(&buf) {
            continue;
        }
        let input = std::mem::take(&mut buf);
        if repl.handle(&input) == Flow::Quit {
            return Ok(());
        }
    }
    if !buf.trim().is_empty() {
        println!("error: input ended inside an unfinished form");
    }
    Ok(())
}

/// Whether `input` is a whole input: a command or a call is one line; a
/// form is complete when its parentheses balance (strings and comments
/// closed).
fn complete(input: &str) -> bool {
    let t = input.trim_start();
    if !t.starts_with('(') && !t.starts_with(";;") && !t.starts_with("(;") {
        return true;
    }
    wasabi::open_parens(input).is_some_and(|open| open <= 0)
}

/// What rustyline asks about the line being edited: whether it is complete
/// (multi-line forms), completions (commands and the session's names), and
/// matching-bracket highlighting.
#[derive(rustyline::Helper, rustyline::Hinter, rustyline::Highlighter)]
struct FormHelper {
    /// The session's names, refreshed after every input.
    names: Rc<RefCell<Vec<String>>>,
    #[rustyline(Highlighter)]
    brackets: rustyline::highlight::MatchingBracketHighlighter,
}

const COMMANDS: &[&str] = &[
    ":help", ":load", ":exports", ":type", ":memory", ":globals", ":stats", ":reset", ":quit",
];

impl rustyline::completion::Completer for FormHelper {
    type Candidate = String;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _: &rustyline::Context<'_>,
    ) -> rustyline::Result<(usize, Vec<String>)> {
        let start = line[..pos]
            .rfind(|c: char| c.is_whitespace() || "()\",".contains(c))
            .map_or(0, |i| i + 1);
        let word = &line[start..pos];
        let names = self.names.borrow();
        let pool: Vec<&str> = if start == 0 && word.starts_with(':') {
            COMMANDS.to_vec()
        } else {
            names.iter().map(|s| s.as_str()).collect()
        };
        let found = pool
            .into_iter()
            .filter(|c| c.starts_with(word))
            .map(str::to_string)
            .collect();
        Ok((start, found))
    }
}

impl rustyline::validate::Validator for FormHelper {
    fn validate(
        &self,
        ctx: &mut rustyline::validate::ValidationContext<'_>,
    ) -> rustyline::Result<rustyline::validate::ValidationResult> {
        Ok(match complete(ctx.input()) {
            true => rustyline::validate::ValidationResult::Valid(None),
            false => rustyline::validate::ValidationResult::Incomplete,
        })
    }
}

/// The history file: `$WASABI_REPL_HISTORY`, else
/// `$XDG_DATA_HOME/wasabi/repl_history`, else
/// `~/.local/share/wasabi/repl_history`.
fn history_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("WASABI_REPL_HISTORY") {
        return Some(p.into());
    }
    let data = std::env::var_os("XDG_DATA_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".local/share")))?;
    Some(data.join("wasabi").join("repl_history"))
}

/// Line editing, history, completion (Tab) and multi-line forms on a
/// terminal.
fn interactive(repl: &mut Repl) -> Result<()> {
    use rustyline::error::ReadlineError;
    let config = rustyline::Config::builder()
        .auto_add_history(false)
        .max_history_size(10_000)?
        .build();
    let mut rl: rustyline::Editor<FormHelper, rustyline::history::DefaultHistory> =
        rustyline::Editor::with_config(config)?;
    let names = Rc::new(RefCell::new(repl.session.names()));
    rl.set_helper(Some(FormHelper {
        names: names.clone(),
        brackets: rustyline::highlight::MatchingBracketHighlighter::new(),
    }));
    let history = history_path();
    if let Some(h) = &history {
        let _ = rl.load_history(h);
    }
    println!("wasabi repl: type :help for help, Ctrl-D to quit");
    loop {
        match rl.readline("wasabi> ") {
            Ok(line) => {
                if !line.trim().is_empty() {
                    let _ = rl.add_history_entry(line.as_str());
                    save_history(&mut rl, history.as_deref());
                }
                if repl.handle(&line) == Flow::Quit {
                    break;
                }
                *names.borrow_mut() = repl.session.names();
            }
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => break,
            Err(e) => return Err(e.into()),
        }
    }
    save_history(&mut rl, history.as_deref());
    Ok(())
}

fn save_history(
    rl: &mut rustyline::Editor<FormHelper, rustyline::history::DefaultHistory>,
    path: Option<&Path>,
) {
    if let Some(p) = path {
        if let Some(dir) = p.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let _ = rl.save_history(p);
    }
}

#[derive(PartialEq, Eq)]
enum Flow {
    Continue,
    Quit,
}

struct Repl {
    session: Session<WasiCtx>,
    timeout: Option<Duration>,
}

impl Repl {
    /// Handles one complete input, printing what it did.
    fn handle(&mut self, input: &str) -> Flow {
        let t = input.trim();
        if t.is_empty() {
            return Flow::Continue;
        }
        let r = if let Some(cmd) = t.strip_prefix(':') {
            return self.command(cmd);
        } else if t.starts_with('(') || t.starts_with(";;") || t.starts_with("(;") {
            self.forms(input)
        } else {
            self.shorthand_call(t)
        };
        if let Err(e) = r {
            print_error(&e);
        }
        let _ = std::io::stdout().flush();
        Flow::Continue
    }

    fn command(&mut self, cmd: &str) -> Flow {
        let mut words = cmd.split_whitespace();
        let name = words.next().unwrap_or("");
        let args: Vec<&str> = words.collect();
        let r: Result<()> = match name {
            "help" | "h" | "?" => {
                println!("{HELP}");
                Ok(())
            }
            "quit" | "q" | "exit" => return Flow::Quit,
            "load" => match args[..] {
                [file] => {
                    self.load(file);
                    Ok(())
                }
                [file, "as", name] => self.link(file, name),
                _ => Err(anyhow!("usage: :load FILE [as NAME]")),
            },
            "exports" => {
                let ex = self.session.exports();
                if ex.is_empty() {
                    println!("(no exports)");
                }
                for (name, ty) in ex {
                    println!("{}: {ty}", quote_name(&name));
                }
                Ok(())
            }
            "type" => match args[..] {
                [n] => self
                    .session
                    .type_of(n)
                    .map(|t| println!("{t}"))
                    .ok_or_else(|| anyhow!("nothing is called `{n}`")),
                _ => Err(anyhow!("usage: :type NAME")),
            },
            "memory" | "mem" => self.memory(&args),
            "globals" => {
                let gs = self.session.globals();
                if gs.is_empty() {
                    println!("(no globals)");
                }
                for (name, g) in gs {
                    let ty = ExternType::Global(g.ty(self.session.store()));
                    let v = g.get(self.session.store_mut());
                    println!("{name}: {ty} = {}", show(&v));
                }
                Ok(())
            }
            "stats" => {
                let s = self.session.stats();
                println!(
                    "functions compiled: {}/{}, compile time: {:.3} ms, definitions: {}, \
                     modules: {}, replacements: {}",
                    s.functions_compiled,
                    s.functions_total,
                    s.compile_time.as_secs_f64() * 1e3,
                    s.definitions,
                    s.modules,
                    s.replacements
                );
                Ok(())
            }
            "reset" => self
                .session
                .reset()
                .map(|_| {
                    publish_handle(&self.session);
                    println!("session reset")
                })
                .map_err(|e| anyhow!("{e}")),
            other => Err(anyhow!("unknown command `:{other}` (:help lists them)")),
        };
        if let Err(e) = r {
            println!("error: {e}");
        }
        Flow::Continue
    }

    /// `:load FILE`: a text module's fields, or a binary's exports.
    fn load(&mut self, file: &str) {
        let r = (|| -> Result<Vec<Defined>, Error> {
            let bytes = std::fs::read(file).map_err(Error::Io)?;
            if bytes.starts_with(b"\0asm") {
                let name = Path::new(file)
                    .file_stem()
                    .map_or("module".into(), |s| s.to_string_lossy().into_owned());
                let m = Module::with_name(self.session.engine(), &bytes, &name)?;
                self.interruptible(|s| s.load(&m))
            } else {
                let text = String::from_utf8(bytes)
                    .map_err(|_| Error::Text(format!("{file}: not UTF-8 text")))?;
                self.interruptible(|s| s.define(&text))
            }
        })();
        match r {
            Ok(d) => print_defined(&d),
            Err(e) => println!("error: {file}: {}", indent(&e.to_string())),
        }
    }

    fn link(&mut self, file: &str, name: &str) -> Result<()> {
        let m = Module::from_file(self.session.engine(), file).map_err(|e| anyhow!("{e}"))?;
        self.interruptible(|s| s.link_module(name, &m))
            .map_err(|e| anyhow!("{e}"))?;
        println!("linked {file} as \"{name}\"");
        Ok(())
    }

    fn memory(&mut self, args: &[&str]) -> Result<()> {
        let num = |s: &str| -> Result<usize> {
            let r = match s.strip_prefix("0x") {
                Some(h) => usize::from_str_radix(h, 16),
                None => s.parse(),
            };
            r.map_err(|_| anyhow!("`{s}` is not a number"))
        };
        let (addr, len) = match args {
            [] => (0, 64),
            [a] => (num(a)?, 64),
            [a, l] => (num(a)?, num(l)?),
            _ => return Err(anyhow!("usage: :memory [ADDR [LEN]]")),
        };
        let mems = self.session.memories();
        let Some((_, mem)) = mems.first() else {
            return Err(anyhow!("no memory is defined"));
        };
        let data = mem.data(self.session.store());
        if addr >= data.len() {
            return Err(anyhow!(
                "address {addr:#x} is past the end of memory ({:#x} bytes)",
                data.len()
            ));
        }
        let end = addr.saturating_add(len).min(data.len());
        let mut line = addr & !15;
        while line < end {
            let mut hex = String::new();
            let mut ascii = String::new();
            for a in line..line + 16 {
                match data.get(a).filter(|_| a >= addr && a < end) {
                    None => {
                        hex.push_str("   ");
                        ascii.push(' ');
                    }
                    Some(&b) => {
                        hex.push_str(&format!("{b:02x} "));
                        ascii.push(if b.is_ascii_graphic() || b == b' ' {
                            b as char
                        } else {
                            '.'
                        });
                    }
                }
                if a == line + 7 {
                    hex.push(' ');
                }
            }
            println!("{line:08x}  {hex} |{ascii}|");
            line += 16;
        }
        Ok(())
    }

    /// Module fields and script directives, in order; consecutive fields
    /// are defined together (so they may refer to each other).
    fn forms(&mut self, input: &str) -> Result<(), Error> {
        let forms = split_forms(input);
        let mut i = 0;
        while i < forms.len() {
            if forms[i].1 != FormKind::Directive {
                let start = forms[i].0 .0;
                let mut end = forms[i].0 .1;
                while forms[i].1 == FormKind::Field
                    && i + 1 < forms.len()
                    && forms[i + 1].1 == FormKind::Field
                {
                    i += 1;
                    end = forms[i].0 .1;
                }
                // Keep the text before the first field (blank it) so
                // positions in errors are those of the input.
                let text = format!("{}{}", blank(&input[..start]), &input[start..end]);
                let defined = self.interruptible(|s| s.define(&text))?;
                if defined.is_empty() {
                    println!("ok"); // segments, exports, start: nothing new to name
                }
                print_defined(&defined);
            } else {
                let (a, b) = forms[i].0;
                if let Err(e) = self.directive(&input[a..b]) {
                    print_error(&e);
                }
            }
            i += 1;
        }
        Ok(())
    }

    fn directive(&mut self, text: &str) -> Result<(), Error> {
        let buf = ParseBuffer::new(text).map_err(|e| Error::Text(wast_error(e, text)))?;
        let wast: Wast<'_> = parser::parse(&buf).map_err(|e| Error::Text(wast_error(e, text)))?;
        for d in wast.directives {
            match d {
                WastDirective::Invoke(inv) => print_results(&self.invoke(&inv)?),
                WastDirective::AssertReturn { exec, results, .. } => {
                    let got = match self.execute(exec) {
                        Ok(v) => v,
                        Err(Error::Trap(t)) => {
                            println!("assert_return failed: trapped: {t}");
                            continue;
                        }
                        Err(e) => return Err(e),
                    };
                    let ok = got.len() == results.len()
                        && got.iter().zip(&results).all(|(g, w)| match w {
                            WastRet::Core(w) => matches_ret(g, w),
                            _ => false,
                        });
                    if ok {
                        println!("ok");
                    } else {
                        println!(
                            "assert_return failed: got {}, expected {}",
                            show_results(&got),
                            results.iter().map(show_ret).collect::<Vec<_>>().join(", ")
                        );
                    }
                }
                WastDirective::AssertTrap { exec, message, .. } => match self.execute(exec) {
                    Ok(v) => println!(
                        "assert_trap failed: returned {}, expected trap `{message}`",
                        show_results(&v)
                    ),
                    Err(Error::Trap(t)) => {
                        let got = t.message();
                        if got.contains(message) || message.contains(got.as_str()) {
                            println!("ok");
                        } else {
                            println!("assert_trap failed: got `{got}`, expected `{message}`");
                        }
                    }
                    Err(e) => return Err(e),
                },
                WastDirective::AssertExhaustion { call, message, .. } => match self.invoke(&call) {
                    Err(Error::Trap(t)) if t.code == wasabi::TrapCode::StackOverflow => {
                        println!("ok")
                    }
                    Err(Error::Trap(t)) => {
                        println!("assert_exhaustion failed: got `{t}`, expected `{message}`")
                    }
                    Ok(v) => println!(
                        "assert_exhaustion failed: returned {}, expected `{message}`",
                        show_results(&v)
                    ),
                    Err(e) => return Err(e),
                },
                WastDirective::AssertInvalid {
                    mut module,
                    message,
                    ..
                }
                | WastDirective::AssertMalformed {
                    mut module,
                    message,
                    ..
                } => {
                    // Checked on its own, not against the session.
                    let rejected = match module.encode() {
                        Err(_) => true,
                        Ok(bytes) => Module::new(self.session.engine(), &bytes).is_err(),
                    };
                    if rejected {
                        println!("ok");
                    } else {
                        println!("assertion failed: the module compiled, expected `{message}`");
                    }
                }
                _ => {
                    return Err(Error::Text(
                        "only invoke, assert_return, assert_trap, assert_exhaustion, \
                         assert_invalid and assert_malformed are supported here"
                            .into(),
                    ))
                }
            }
        }
        Ok(())
    }

    fn execute(&mut self, exec: WastExecute<'_>) -> Result<Vec<Val>, Error> {
        match exec {
            WastExecute::Invoke(inv) => self.invoke(&inv),
            WastExecute::Get { global, .. } => match self.session.lookup(global) {
                Some((wasabi::EntityKind::Global, i)) => {
                    let g = self.session.globals()[i].1;
                    Ok(vec![g.get(self.session.store_mut())])
                }
                _ => Err(Error::NotFound(format!("no global `{global}`"))),
            },
            WastExecute::Wat(_) => Err(Error::Text(
                "modules inside assertions are not supported here".into(),
            )),
        }
    }

    fn invoke(&mut self, inv: &WastInvoke<'_>) -> Result<Vec<Val>, Error> {
        let mut args = Vec::new();
        for a in &inv.args {
            let WastArg::Core(a) = a else {
                return Err(Error::Type("component arguments".into()));
            };
            args.push(
                arg_val(a).ok_or_else(|| Error::Type(format!("unsupported argument {a:?}")))?,
            );
        }
        self.call(inv.name, &args)
    }

    /// Calls `name`, interruptible by Ctrl-C and `--timeout`.
    fn call(&mut self, name: &str, args: &[Val]) -> Result<Vec<Val>, Error> {
        let func = self
            .session
            .func(name)
            .ok_or_else(|| Error::NotFound(format!("no function `{name}` is defined")))?;
        self.interruptible(|s| func.call_vec(s.store_mut(), args))
    }

    /// Runs `f`, which may run wasm (a call; a definition's start function
    /// or segments), so that Ctrl-C and `--timeout` interrupt it. A request
    /// that arrives after `f`'s wasm has finished (Ctrl-C just as a call
    /// returns, a timeout expiring during a long compilation) is withdrawn,
    /// so it cannot stop the next input.
    fn interruptible<R>(&mut self, f: impl FnOnce(&mut Session<WasiCtx>) -> R) -> R {
        let watchdog = self.timeout.map(|t| {
            let handle = self.session.store().interrupt_handle();
            let (tx, rx) = std::sync::mpsc::channel::<()>();
            let th = std::thread::spawn(move || {
                if rx.recv_timeout(t) == Err(std::sync::mpsc::RecvTimeoutError::Timeout) {
                    handle.interrupt();
                }
            });
            (tx, th)
        });
        IN_CALL.store(true, Ordering::SeqCst);
        let r = f(&mut self.session);
        IN_CALL.store(false, Ordering::SeqCst);
        if let Some((tx, th)) = watchdog {
            drop(tx);
            let _ = th.join();
        }
        self.session.store().interrupt_handle().clear();
        r
    }

    /// `sq(5)`, `sq(1, 2)`, `sq 5`, `$sq 5`: arguments parsed by the
    /// function's parameter types.
    fn shorthand_call(&mut self, t: &str) -> Result<(), Error> {
        let (name, rest) = match t.find(|c: char| c == '(' || c.is_whitespace()) {
            Some(i) => (&t[..i], t[i..].trim()),
            None => (t, ""),
        };
        let rest = match rest.strip_prefix('(') {
            Some(r) => r
                .strip_suffix(')')
                .ok_or_else(|| Error::Text(format!("missing `)` in `{t}`")))?,
            None => rest,
        };
        let Some(func) = self.session.func(name) else {
            return Err(Error::NotFound(format!(
                "`{name}` is not a function, a command or a form (:help for help)"
            )));
        };
        let ty = func.ty(self.session.store());
        let words: Vec<&str> = rest
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|w| !w.is_empty())
            .collect();
        if words.len() != ty.params.len() {
            return Err(Error::Type(format!(
                "`{name}` takes {} argument{} {}, {} given",
                ty.params.len(),
                if ty.params.len() == 1 { "" } else { "s" },
                ExternType::Func(ty.clone()),
                words.len()
            )));
        }
        let args = words
            .iter()
            .zip(&ty.params)
            .map(|(w, t)| parse_arg(w, *t))
            .collect::<Result<Vec<_>, _>>()?;
        let t0 = Instant::now();
        let r = self.call(name, &args)?;
        print_results(&r);
        if std::env::var_os("WASABI_REPL_TIME").is_some() {
            println!("time: {:.3} ms", t0.elapsed().as_secs_f64() * 1e3);
        }
        Ok(())
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum FormKind {
    Field,
    /// `(module ...)`: defined on its own.
    Module,
    Directive,
}

/// The top-level forms of `input`: byte ranges and whether each is a module
/// field (or `(module ...)`) or a script directive.
fn split_forms(input: &str) -> Vec<((usize, usize), FormKind)> {
    let b = input.as_bytes();
    let mut out = Vec::new();
    let (mut p, mut depth, mut start) = (0, 0i64, 0);
    while p < b.len() {
        if b[p..].starts_with(b";;") {
            while p < b.len() && b[p] != b'\n' {
                p += 1;
            }
            continue;
        }
        if b[p..].starts_with(b"(;") {
            let mut d = 0;
            while p < b.len() {
                if b[p..].starts_with(b"(;") {
                    d += 1;
                    p += 2;
                } else if b[p..].starts_with(b";)") {
                    d -= 1;
                    p += 2;
                    if d == 0 {
                        break;
                    }
                } else {
                    p += 1;
                }
            }
            continue;
        }
        match b[p] {
            b'"' => {
                p += 1;
                while p < b.len() && b[p] != b'"' {
                    p += if b[p] == b'\\' { 2 } else { 1 };
                }
            }
            b'(' => {
                if depth == 0 {
                    start = p;
                }
                depth += 1;
            }
            b')' => {
                depth -= 1;
                if depth == 0 {
                    let kw: String = input[start + 1..]
                        .trim_start()
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '.')
                        .collect();
                    let kind = match kw.as_str() {
                        "invoke" | "assert_return" | "assert_trap" | "assert_exhaustion"
                        | "assert_invalid" | "assert_malformed" | "assert_unlinkable"
                        | "register" | "get" => FormKind::Directive,
                        "module" => FormKind::Module,
                        _ => FormKind::Field,
                    };
                    out.push(((start, p + 1), kind));
                }
            }
            _ => {}
        }
        p += 1;
    }
    out
}

/// `text` with everything but newlines turned into spaces.
fn blank(text: &str) -> String {
    text.chars()
        .map(|c| if c == '\n' { '\n' } else { ' ' })
        .collect()
}

fn wast_error(mut e: wast::Error, text: &str) -> String {
    e.set_text(text);
    e.to_string()
}

fn print_error(e: &Error) {
    match e {
        Error::Trap(t) => println!("trap: {}", indent(&t.to_string())),
        e => println!("error: {}", indent(&e.to_string())),
    }
}

/// Continuation lines of a message, indented under `error: `.
fn indent(s: &str) -> String {
    s.replace('\n', "\n  ")
}

fn print_defined(d: &[Defined]) {
    for d in d {
        let verb = if d.replaced { "replaced" } else { "defined" };
        match d.kind {
            wasabi::EntityKind::Type => println!("{verb} type {}: {}", d.name, d.ty),
            k => println!("{verb} {k} {}: {}", d.name, d.ty),
        }
    }
}

fn print_results(v: &[Val]) {
    println!("{}", show_results(v));
}

/// Results with their types: `25 : i32`, several separated by commas;
/// `()` for none.
fn show_results(v: &[Val]) -> String {
    if v.is_empty() {
        return "()".into();
    }
    v.iter()
        .map(|v| format!("{} : {}", show(v), v.ty()))
        .collect::<Vec<_>>()
        .join(", ")
}

fn show(v: &Val) -> String {
    match *v {
        Val::I32(x) => x.to_string(),
        Val::I64(x) => x.to_string(),
        Val::F32(b) => f32::from_bits(b).to_string(),
        Val::F64(b) => f64::from_bits(b).to_string(),
        Val::V128(x) => format!("{x:#034x}"),
        Val::FuncRef(None) | Val::ExternRef(None) => "null".into(),
        Val::FuncRef(Some(_)) => "<function>".into(),
        Val::ExternRef(Some(r)) => format!("<extern {}>", r.0),
    }
}

/// An expected result of `assert_return`, as results are shown.
fn show_ret(r: &WastRet<'_>) -> String {
    fn core(r: &WastRetCore<'_>) -> String {
        let nan = |p: &str| format!("nan:{p}");
        match r {
            WastRetCore::I32(v) => format!("{v} : i32"),
            WastRetCore::I64(v) => format!("{v} : i64"),
            WastRetCore::F32(NanPattern::Value(v)) => format!("{} : f32", f32::from_bits(v.bits)),
            WastRetCore::F64(NanPattern::Value(v)) => format!("{} : f64", f64::from_bits(v.bits)),
            WastRetCore::F32(NanPattern::CanonicalNan)
            | WastRetCore::F64(NanPattern::CanonicalNan) => nan("canonical"),
            WastRetCore::F32(_) | WastRetCore::F64(_) => nan("arithmetic"),
            WastRetCore::RefNull(_) => "null".into(),
            WastRetCore::Either(alts) => alts.iter().map(core).collect::<Vec<_>>().join(" | "),
            other => format!("{other:?}"),
        }
    }
    match r {
        WastRet::Core(c) => core(c),
        other => format!("{other:?}"),
    }
}

fn quote_name(n: &str) -> String {
    format!("{n:?}")
}

fn parse_arg(s: &str, t: ValType) -> Result<Val, Error> {
    let bad = || Error::Type(format!("cannot read `{s}` as {t}"));
    let int = |s: &str| -> Option<i128> {
        let (neg, s) = match s.strip_prefix('-') {
            Some(r) => (true, r),
            None => (false, s),
        };
        let s = s.replace('_', "");
        let v = match s.strip_prefix("0x") {
            Some(h) => i128::from_str_radix(h, 16).ok()?,
            None => s.parse::<i128>().ok()?,
        };
        Some(if neg { -v } else { v })
    };
    Ok(match t {
        ValType::I32 => match int(s) {
            Some(v) if (i32::MIN as i128..=u32::MAX as i128).contains(&v) => Val::I32(v as i32),
            _ => return Err(bad()),
        },
        ValType::I64 => match int(s) {
            Some(v) if (i64::MIN as i128..=u64::MAX as i128).contains(&v) => Val::I64(v as i64),
            _ => return Err(bad()),
        },
        ValType::F32 => Val::F32(s.parse::<f32>().map_err(|_| bad())?.to_bits()),
        ValType::F64 => Val::F64(s.parse::<f64>().map_err(|_| bad())?.to_bits()),
        _ => {
            return Err(Error::Type(format!(
                "arguments of type {t} cannot be typed in; use (invoke ...)"
            )))
        }
    })
}
