//! Traps: catching them, raising them, turning hardware faults in wasm
//! code into them, and recording the wasm backtrace of each.
//!
//! How a trap travels: host code enters wasm through [`catch_traps`], which
//! publishes a jump buffer for this thread and marks an *activation*. A trap
//! is raised either explicitly (compiled code calls the `Trap` or
//! `StackLimitHit` builtin, which calls [`raise`]; a host trampoline calls
//! `VMHostContext.raise` after a failed host call; the lazy resolver after a
//! failed compilation) or by a fault: the signal handler sees a pc inside
//! loaded wasm code and a published jump buffer, records the trap and jumps
//! back. Either way `catch_traps` returns the recorded [`RawTrap`]. One
//! fault is not always a trap: a load from a store's poll page (an epoch
//! check, see `crate::interrupt`) that finds the store should not stop
//! after all returns from the handler, and the load is retried.
//!
//! Backtraces: every compiled function and trampoline keeps a frame pointer,
//! so its frame starts with a [`FrameRecord`] `{caller's fp, return
//! address}`. Each thread keeps a chain of activations (one per
//! `catch_traps` still running, innermost first); an activation knows its
//! *boundary* (an address in `catch_traps`' frame: its wasm frames are all
//! below it) and, while wasm of that activation is calling the host, the
//! *exit fp*: the frame pointer of the host trampoline, given to
//! [`enter_host`]. When a trap is raised, the frame records of the innermost
//! activation are walked from the trapping frame while the return address
//! is in registered wasm code and the frame lies below the boundary; then
//! the walk continues from the exit fp of the next activation out, and so
//! on. Return addresses are recorded minus one, so each maps into the
//! calling function.
//!
//! What must stay true:
//! - Only frames of compiled wasm, trampolines and helpers that own nothing
//!   are jumped over (see `traps.c`); host functions never unwind through
//!   wasm: they return a status and the trampoline raises.
//! - Faults whose pc is not in wasm code are not ours: they are passed to the
//!   handler installed before ours (or the default action).
//! - Handlers run on a per-thread alternate stack, so a stack overflow can be
//!   handled.
//! - Nothing the signal handler does allocates or takes a blocking lock: the
//!   backtrace goes into a per-thread buffer allocated by `catch_traps`
//!   beforehand ([`MAX_BACKTRACE`] frames; deeper frames are only counted),
//!   and is copied out after the jump back.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::ffi::c_void;
use std::sync::{Once, RwLock};

use crate::vmcontext::{FrameRecord, TrapCode};

extern "C" {
    fn wasabi_catch(
        body: extern "C" fn(*mut c_void),
        data: *mut c_void,
        slot: *mut *mut c_void,
    ) -> i32;
    fn wasabi_unwind(buf: *mut c_void) -> !;
}

/// Most frames a backtrace records; frames beyond are counted in
/// [`RawTrap::backtrace_cut`].
pub const MAX_BACKTRACE: usize = 1024;

/// What was recorded when a trap was raised, before it is described for the
/// user (the runtime maps `pc` or `func_index`, and the backtrace, to
/// function names).
#[derive(Clone, Debug)]
pub struct RawTrap {
    pub code: TrapCode,
    /// The faulting pc, for traps raised by a signal.
    pub pc: Option<usize>,
    /// The function index, for explicit traps raised by compiled code.
    pub func_index: Option<u32>,
    /// The vmctx of the instance whose code raised an explicit trap.
    pub vmctx: usize,
    /// Pcs inside wasm code, innermost first, across nested activations.
    /// For an explicit trap (`func_index` is `Some`) the trapping function
    /// itself is not listed, the first entry is in its caller; for a fault
    /// the first entry is the faulting pc; for a `HostError` the first entry
    /// is in the wasm caller of the host function. Return addresses are
    /// stored minus one. Entries may lie in trampolines: a consumer skips
    /// pcs that map to no function.
    pub backtrace: Vec<usize>,
    /// Frames walked beyond [`MAX_BACKTRACE`] and not recorded.
    pub backtrace_cut: usize,
}

impl RawTrap {
    /// A trap with nothing known about where it happened.
    pub fn new(code: TrapCode) -> RawTrap {
        RawTrap {
            code,
            pc: None,
            func_index: None,
            vmctx: 0,
            backtrace: Vec::new(),
            backtrace_cut: 0,
        }
    }
}

/// One `catch_traps` in progress on this thread; lives in its frame.
struct Activation {
    /// Wasm frames of this activation are below this address.
    boundary: usize,
    /// While this activation's wasm calls the host: the host trampoline's
    /// frame pointer; 0 otherwise.
    exit_fp: Cell<usize>,
    /// The enclosing activation, or null.
    prev: *const Activation,
}

/// Per-thread backtrace buffer, filled when a trap is raised (possibly in
/// the signal handler) and read by `catch_traps` after the jump back.
struct TraceBuf {
    len: usize,
    cut: usize,
    pcs: [usize; MAX_BACKTRACE],
}

/// Owns this thread's [`TraceBuf`]; frees it when the thread exits.
struct TraceOwner(*mut TraceBuf);

impl Drop for TraceOwner {
    fn drop(&mut self) {
        TRACE.with(|t| t.set(std::ptr::null_mut()));
        // SAFETY: the pointer came from `Box::into_raw` in `TRACE_OWNER`'s
        // initialiser and is freed only here, once; `TRACE` no longer
        // points at it, and no wasm runs on a thread being torn down.
        drop(unsafe { Box::from_raw(self.0) });
    }
}

thread_local! {
    static JMPBUF: Cell<*mut c_void> = const { Cell::new(std::ptr::null_mut()) };
    static PENDING: Cell<Option<RawTrap>> = const { Cell::new(None) };
    static ALTSTACK: Cell<bool> = const { Cell::new(false) };
    /// The innermost activation, or null.
    static ACTIVATION: Cell<*const Activation> = const { Cell::new(std::ptr::null()) };
    /// This thread's trace buffer (no destructor: readable from the signal
    /// handler at any time), set up by `TRACE_OWNER`.
    static TRACE: Cell<*mut TraceBuf> = const { Cell::new(std::ptr::null_mut()) };
    static TRACE_OWNER: TraceOwner = {
        let buf = Box::into_raw(Box::new(TraceBuf { len: 0, cut: 0, pcs: [0; MAX_BACKTRACE] }));
        TRACE.with(|t| t.set(buf));
        TraceOwner(buf)
    };
}

/// Runs `f` (which calls into wasm); returns the trap if one was raised.
pub fn catch_traps<F: FnOnce()>(f: F) -> Result<(), RawTrap> {
    install_handlers();
    ensure_altstack();
    TRACE_OWNER.with(|_| ());
    struct Data<F>(Option<F>);
    extern "C" fn body<F: FnOnce()>(data: *mut c_void) {
        // SAFETY: `data` is the `Data<F>` `catch_traps` passed to
        // `wasabi_catch`, alive and not otherwise borrowed during the call.
        let d = unsafe { &mut *(data as *mut Data<F>) };
        (d.0.take().unwrap())();
    }
    let mut data = Data(Some(f));
    let mut activation = Activation {
        boundary: 0,
        exit_fp: Cell::new(0),
        prev: ACTIVATION.with(|a| a.get()),
    };
    // The activation itself marks the boundary: it lives in this frame,
    // above every frame `f` creates.
    activation.boundary = std::ptr::addr_of!(activation) as usize;
    ACTIVATION.with(|a| a.set(&activation));
    let slot = JMPBUF.with(|c| c.as_ptr());
    // SAFETY: `body::<F>` matches `data`'s type; `slot` is this thread's
    // jump-buffer cell, which `wasabi_catch` restores before returning. The
    // frames a trap jumps over (between `wasabi_catch` and the raise) are
    // wasm code, trampolines and helpers owning nothing (module docs).
    let rc = unsafe { wasabi_catch(body::<F>, &mut data as *mut Data<F> as *mut c_void, slot) };
    ACTIVATION.with(|a| a.set(activation.prev));
    if rc == 0 {
        return Ok(());
    }
    let mut trap = PENDING
        .with(|p| p.take())
        .unwrap_or_else(|| RawTrap::new(TrapCode::HostError));
    let buf = TRACE.with(|t| t.get());
    if !buf.is_null() {
        // SAFETY: this thread's buffer, written only by the raise that just
        // jumped back here; nothing else reads or writes it now.
        let buf = unsafe { &mut *buf };
        trap.backtrace = buf.pcs[..buf.len].to_vec();
        trap.backtrace_cut = buf.cut;
        buf.len = 0;
        buf.cut = 0;
    }
    Err(trap)
}

/// Whether this thread is inside [`catch_traps`].
pub fn in_wasm_call() -> bool {
    !JMPBUF.with(|c| c.get()).is_null()
}

/// Marks a call from wasm into the host, for backtraces: while the guard
/// lives, a trap in a nested activation continues its backtrace from
/// `exit_fp`, the frame pointer of the host trampoline making the call.
/// Host-function dispatchers hold one around every host call.
pub fn enter_host(exit_fp: *mut u8) -> HostGuard {
    let activation = ACTIVATION.with(|a| a.get());
    let prev = if activation.is_null() {
        0
    } else {
        // SAFETY: a non-null `ACTIVATION` points at the activation of a
        // `catch_traps` still running on this thread (it resets the cell
        // before returning), so it is alive.
        unsafe { (*activation).exit_fp.replace(exit_fp as usize) }
    };
    HostGuard { activation, prev }
}

/// Returned by [`enter_host`]; restores the previous exit fp when dropped.
pub struct HostGuard {
    activation: *const Activation,
    prev: usize,
}

impl Drop for HostGuard {
    fn drop(&mut self) {
        if !self.activation.is_null() {
            // SAFETY: the guard is dropped inside the host call it marks,
            // which runs inside the activation's `catch_traps`, so the
            // activation is still alive (the guard is not Send: same thread).
            unsafe { (*self.activation).exit_fp.set(self.prev) };
        }
    }
}

/// Records the backtrace of a trap being raised into this thread's buffer:
/// `first_pc` if given, then the return address of the frame record at
/// `fp` and of each of its callers in wasm code, then those of the
/// enclosing activations from their exit fps. Allocates nothing and takes
/// no blocking lock: callable from the signal handler.
///
/// # Safety
/// `fp` must be null or the frame pointer of a live frame of this thread,
/// below the innermost activation's boundary.
unsafe fn record_backtrace(first_pc: Option<usize>, fp: usize) {
    let buf = TRACE.with(|t| t.get());
    if buf.is_null() {
        return;
    }
    // SAFETY: this thread's buffer; only the trap being raised (one at a
    // time per thread) writes it, `catch_traps` reads it after the jump.
    let buf = unsafe { &mut *buf };
    buf.len = 0;
    buf.cut = 0;
    let mut push = |pc: usize| {
        if buf.len < MAX_BACKTRACE {
            buf.pcs[buf.len] = pc;
            buf.len += 1;
        } else {
            buf.cut += 1;
        }
    };
    if let Some(pc) = first_pc {
        push(pc);
    }
    let mut activation = ACTIVATION.with(|a| a.get());
    let mut fp = fp;
    while !activation.is_null() {
        // SAFETY: activations in the chain belong to `catch_traps` calls
        // still running on this thread.
        let a = unsafe { &*activation };
        // Frames of one activation lie between the first frame and the
        // boundary, on this thread's stack, and each caller's frame is
        // above its callee's: anything else ends the walk (and guarantees
        // every record read is in mapped stack memory).
        let mut last = 0;
        while fp != 0
            && fp & 7 == 0
            && fp > last
            && fp + std::mem::size_of::<FrameRecord>() <= a.boundary
        {
            // SAFETY: `fp` is 8-aligned and lies between a live frame of
            // this thread and the activation's boundary, both on this
            // thread's stack, so the record is readable.
            let rec = unsafe { &*(fp as *const FrameRecord) };
            let ra = rec.return_address;
            if !is_wasm_code(ra) {
                break;
            }
            push(ra - 1);
            last = fp;
            fp = rec.caller_fp as usize;
        }
        activation = a.prev;
        if !activation.is_null() {
            // SAFETY: as above.
            fp = unsafe { (*activation).exit_fp.get() };
        }
    }
}

/// Raises a trap to the innermost [`catch_traps`] of this thread. `fp` is
/// where its backtrace starts: the frame pointer of the frame whose callers
/// are listed first (the trapping wasm function, the host trampoline that
/// called a failing host function, the lazy resolver's frame), or null for
/// none in this activation.
///
/// # Safety
/// Must be called (directly or through helpers owning nothing) from wasm code
/// running under `catch_traps`; `fp` must be null or the frame pointer of a
/// live frame of that wasm code.
pub unsafe fn raise(trap: RawTrap, fp: *const u8) -> ! {
    let buf = JMPBUF.with(|c| c.get());
    if buf.is_null() {
        // Not under catch_traps: nothing to return to. This is a host bug.
        eprintln!(
            "wasabi: trap raised outside of a wasm call: {}",
            trap.code.message()
        );
        std::process::abort();
    }
    // SAFETY: per this function's contract, `fp` is null or a live frame of
    // wasm code of the innermost activation.
    unsafe { record_backtrace(None, fp as usize) };
    PENDING.with(|p| p.set(Some(trap)));
    // SAFETY: `buf` is the jump buffer of the innermost `catch_traps`,
    // still running; the frames jumped over own nothing (contract).
    unsafe { wasabi_unwind(buf) }
}

// ---- code registry -------------------------------------------------------

fn registry() -> &'static RwLock<BTreeMap<usize, usize>> {
    static R: RwLock<BTreeMap<usize, usize>> = RwLock::new(BTreeMap::new());
    &R
}

/// Records `[start, end)` as wasm code, for the signal handler.
pub fn register_code(start: usize, end: usize) {
    if end > start {
        registry().write().unwrap().insert(start, end);
    }
}

pub fn unregister_code(start: usize) {
    registry().write().unwrap().remove(&start);
}

/// Whether `pc` lies in loaded wasm code.
///
/// Called from the signal handler, so it never blocks: when another thread
/// holds the write lock (registering code, which lazy compilation does while
/// other threads run wasm), it retries for a bounded time rather than
/// wrongly answering "not wasm" (which would crash the process on an
/// ordinary out-of-bounds trap). A thread whose own pc is in wasm code
/// cannot be the writer, so the wait ends as soon as the writer's short
/// critical section does.
pub fn is_wasm_code(pc: usize) -> bool {
    for _ in 0..(1 << 24) {
        if let Ok(r) = registry().try_read() {
            return matches!(r.range(..=pc).next_back(), Some((_, &end)) if pc < end);
        }
        std::hint::spin_loop();
    }
    false
}

// ---- signal handling -----------------------------------------------------

const SIGNALS: [libc::c_int; 4] = [libc::SIGSEGV, libc::SIGBUS, libc::SIGFPE, libc::SIGILL];
static mut PREVIOUS: [std::mem::MaybeUninit<libc::sigaction>; 4] =
    [std::mem::MaybeUninit::uninit(); 4];

fn install_handlers() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        for (i, &sig) in SIGNALS.iter().enumerate() {
            // SAFETY: `sigaction` is plain data, for which all zeroes is a
            // valid (empty) value.
            let mut sa: libc::sigaction = unsafe { std::mem::zeroed() };
            sa.sa_sigaction = handler as *const () as usize;
            sa.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK | libc::SA_NODEFER;
            // SAFETY: `sa.sa_mask` is a valid, writable sigset.
            unsafe { libc::sigemptyset(&mut sa.sa_mask) };
            // SAFETY: only takes the address; nothing is read or written.
            let prev = unsafe { std::ptr::addr_of_mut!(PREVIOUS[i]) } as *mut libc::sigaction;
            // SAFETY: `sa` is fully initialised and `handler` has the
            // SA_SIGINFO signature; `PREVIOUS` is written only here, once
            // (under `ONCE`), before our handler can run and read it.
            if unsafe { libc::sigaction(sig, &sa, prev) } != 0 {
                panic!("cannot install the handler for signal {sig}");
            }
        }
    });
}

/// Size of the per-thread alternate signal stack.
const ALTSTACK_SIZE: usize = 64 * 1024;

fn ensure_altstack() {
    if ALTSTACK.with(|c| c.get()) {
        return;
    }
    // SAFETY: `stack_t` is plain data; all zeroes is a valid value.
    let mut old: libc::stack_t = unsafe { std::mem::zeroed() };
    // SAFETY: a null new stack only queries the current one into `old`.
    unsafe { libc::sigaltstack(std::ptr::null(), &mut old) };
    if old.ss_flags & libc::SS_DISABLE == 0 && old.ss_size >= ALTSTACK_SIZE {
        ALTSTACK.with(|c| c.set(true));
        return;
    }
    // Leaked on purpose: it must outlive every signal on this thread.
    // SAFETY: a fresh anonymous mapping; it aliases nothing.
    let mem = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            ALTSTACK_SIZE,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if mem == libc::MAP_FAILED {
        return;
    }
    let st = libc::stack_t {
        ss_sp: mem,
        ss_flags: 0,
        ss_size: ALTSTACK_SIZE,
    };
    // SAFETY: `st` describes the mapping above, which is never unmapped.
    unsafe { libc::sigaltstack(&st, std::ptr::null_mut()) };
    ALTSTACK.with(|c| c.set(true));
}

/// The handler of [`SIGNALS`]: a fault in wasm code under `catch_traps`
/// becomes a trap; anything else goes to the previous handler.
///
/// # Safety
/// Only the kernel calls it, as an SA_SIGINFO handler: `info` and `ctx` are
/// valid for the duration of the call.
unsafe extern "C" fn handler(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut c_void) {
    // SAFETY: for an SA_SIGINFO handler `ctx` is the interrupted thread's
    // `ucontext_t`.
    let gregs = unsafe { &(*(ctx as *const libc::ucontext_t)).uc_mcontext.gregs };
    let pc = gregs[libc::REG_RIP as usize] as usize;
    let sp = gregs[libc::REG_RSP as usize] as usize;
    let buf = JMPBUF.with(|c| c.get());
    if !buf.is_null() && is_wasm_code(pc) {
        let code = match sig {
            libc::SIGSEGV | libc::SIGBUS => {
                // SAFETY: `info` is valid, and carries an address for these
                // signals.
                let addr = unsafe { (*info).si_addr() } as usize;
                if let Some(limits) = crate::interrupt::poll_owner(addr) {
                    // An epoch check on a poll page the host armed. When the
                    // store should not stop after all (the request was
                    // withdrawn), the page is readable again: retry the load.
                    match limits.take_stop() {
                        Some(code) => code,
                        None => return,
                    }
                } else if addr <= sp && sp - addr < 1 << 20 || addr > sp && addr - sp < 4096 {
                    // A fault just below the stack pointer is the stack guard.
                    TrapCode::StackOverflow
                } else {
                    TrapCode::MemoryOutOfBounds
                }
            }
            libc::SIGFPE => TrapCode::IntegerDivisionByZero,
            _ => TrapCode::Unreachable,
        };
        let fp = gregs[libc::REG_RBP as usize] as usize;
        // SAFETY: the faulting function is compiled wasm, which keeps its
        // frame pointer in rbp (faults do not happen in prologues, where
        // rbp is still the caller's): a live frame of this activation.
        unsafe { record_backtrace(Some(pc), fp) };
        PENDING.with(|p| {
            p.set(Some(RawTrap {
                pc: Some(pc),
                ..RawTrap::new(code)
            }))
        });
        // SAFETY: `buf` is the innermost `catch_traps`' jump buffer and only
        // wasm frames lie between it and the fault (module docs); we are on
        // the alternate stack, which `siglongjmp` leaves.
        unsafe { wasabi_unwind(buf) };
    }
    // Not ours: hand it to whoever was there before us.
    let i = SIGNALS.iter().position(|&s| s == sig).unwrap();
    // SAFETY: `PREVIOUS[i]` was written by `install_handlers` before this
    // handler was installed, and is never written again.
    let prev = unsafe { &*(std::ptr::addr_of!(PREVIOUS[i]) as *const libc::sigaction) };
    if prev.sa_sigaction == libc::SIG_DFL || prev.sa_sigaction == libc::SIG_IGN {
        // Restore and return: the fault repeats and takes the default action.
        // SAFETY: `prev` is a valid disposition the kernel gave us.
        unsafe { libc::sigaction(sig, prev, std::ptr::null_mut()) };
    } else if prev.sa_flags & libc::SA_SIGINFO != 0 {
        // SAFETY: with SA_SIGINFO the previous handler has this signature,
        // and gets the arguments the kernel gave us.
        unsafe {
            let f: unsafe extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut c_void) =
                std::mem::transmute(prev.sa_sigaction);
            f(sig, info, ctx);
        }
    } else {
        // SAFETY: without SA_SIGINFO the previous handler takes the signal
        // number only.
        unsafe {
            let f: unsafe extern "C" fn(libc::c_int) = std::mem::transmute(prev.sa_sigaction);
            f(sig);
        }
    }
}

// ---- stack limits ----------------------------------------------------------

/// The current stack pointer (approximately).
#[inline(never)]
pub fn current_sp() -> usize {
    let x = 0u8;
    std::hint::black_box(&x) as *const u8 as usize
}

/// Lowest usable address of this thread's stack, if the system can tell.
///
/// Asked once per thread and cached: a thread's stack never moves, and on
/// the main thread glibc answers by parsing `/proc/self/maps` (about 0.1 ms,
/// which every call from the host into wasm would otherwise pay).
pub fn thread_stack_low() -> Option<usize> {
    thread_local! {
        static LOW: std::cell::OnceCell<Option<usize>> = const { std::cell::OnceCell::new() };
    }
    LOW.with(|low| *low.get_or_init(query_thread_stack_low))
}

fn query_thread_stack_low() -> Option<usize> {
    // SAFETY: `attr` is initialised by `pthread_getattr_np` before it is
    // read and destroyed exactly once; the out-pointers are valid locals.
    unsafe {
        let mut attr: libc::pthread_attr_t = std::mem::zeroed();
        if libc::pthread_getattr_np(libc::pthread_self(), &mut attr) != 0 {
            return None;
        }
        let mut addr: *mut c_void = std::ptr::null_mut();
        let mut size: libc::size_t = 0;
        let rc = libc::pthread_attr_getstack(&attr, &mut addr, &mut size);
        libc::pthread_attr_destroy(&mut attr);
        if rc != 0 {
            return None;
        }
        Some(addr as usize)
    }
}

/// The stack limit for wasm entered from here: at most `max_wasm_stack`
/// bytes below the current stack pointer, and always leaving `reserve` bytes
/// of the thread's real stack for host code (helpers, host functions and the
/// signal handler's caller).
pub fn compute_stack_limit(max_wasm_stack: usize) -> usize {
    const RESERVE: usize = 256 * 1024;
    let sp = current_sp();
    let wanted = sp.saturating_sub(max_wasm_stack);
    match thread_stack_low() {
        // The main thread's reported low end may be below the part the
        // kernel will actually grow into; `wanted` still bounds it.
        Some(low) => wanted.max(low + RESERVE),
        None => wanted,
    }
}
