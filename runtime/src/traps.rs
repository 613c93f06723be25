//! Traps: catching them, raising them, and turning hardware faults in wasm
//! code into them.
//!
//! How a trap travels: host code enters wasm through [`catch_traps`], which
//! publishes a jump buffer for this thread. A trap is raised either
//! explicitly (compiled code calls the `Trap` builtin, which calls
//! [`raise`]) or by a fault: the signal handler sees a pc inside loaded wasm
//! code and a published jump buffer, records the trap and jumps back. Either
//! way `catch_traps` returns the recorded [`RawTrap`].
//!
//! What must stay true:
//! - Only frames of compiled wasm, trampolines and helpers that own nothing
//!   are jumped over (see `traps.c`); host functions never unwind through
//!   wasm: they return a status and the trampoline raises.
//! - Faults whose pc is not in wasm code are not ours: they are passed to the
//!   handler installed before ours (or the default action).
//! - Handlers run on a per-thread alternate stack, so a stack overflow can be
//!   handled.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::ffi::c_void;
use std::sync::{Once, RwLock};

use crate::vmcontext::TrapCode;

extern "C" {
    fn wasabi_catch(
        body: extern "C" fn(*mut c_void),
        data: *mut c_void,
        slot: *mut *mut c_void,
    ) -> i32;
    fn wasabi_unwind(buf: *mut c_void) -> !;
}

/// What was recorded when a trap was raised, before it is described for the
/// user (the runtime maps `pc` or `func_index` to a function name).
#[derive(Clone, Copy, Debug)]
pub struct RawTrap {
    pub code: TrapCode,
    /// The faulting pc, for traps raised by a signal.
    pub pc: Option<usize>,
    /// The function index, for explicit traps raised by compiled code.
    pub func_index: Option<u32>,
    /// The vmctx of the instance whose code raised an explicit trap.
    pub vmctx: usize,
}

thread_local! {
    static JMPBUF: Cell<*mut c_void> = const { Cell::new(std::ptr::null_mut()) };
    static PENDING: Cell<Option<RawTrap>> = const { Cell::new(None) };
    static ALTSTACK: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f` (which calls into wasm); returns the trap if one was raised.
pub fn catch_traps<F: FnOnce()>(f: F) -> Result<(), RawTrap> {
    install_handlers();
    ensure_altstack();
    struct Data<F>(Option<F>);
    extern "C" fn body<F: FnOnce()>(data: *mut c_void) {
        let d = unsafe { &mut *(data as *mut Data<F>) };
        (d.0.take().unwrap())();
    }
    let mut data = Data(Some(f));
    let slot = JMPBUF.with(|c| c.as_ptr());
    let rc = unsafe { wasabi_catch(body::<F>, &mut data as *mut Data<F> as *mut c_void, slot) };
    if rc == 0 {
        Ok(())
    } else {
        Err(PENDING.with(|p| p.take()).unwrap_or(RawTrap {
            code: TrapCode::HostError,
            pc: None,
            func_index: None,
            vmctx: 0,
        }))
    }
}

/// Whether this thread is inside [`catch_traps`].
pub fn in_wasm_call() -> bool {
    !JMPBUF.with(|c| c.get()).is_null()
}

/// Raises a trap to the innermost [`catch_traps`] of this thread.
///
/// # Safety
/// Must be called (directly or through helpers owning nothing) from wasm code
/// running under `catch_traps`.
pub unsafe fn raise(trap: RawTrap) -> ! {
    PENDING.with(|p| p.set(Some(trap)));
    let buf = JMPBUF.with(|c| c.get());
    if buf.is_null() {
        // Not under catch_traps: nothing to return to. This is a host bug.
        eprintln!(
            "wasabi: trap raised outside of a wasm call: {}",
            trap.code.message()
        );
        std::process::abort();
    }
    wasabi_unwind(buf)
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
    ONCE.call_once(|| unsafe {
        for (i, &sig) in SIGNALS.iter().enumerate() {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = handler as *const () as usize;
            sa.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK | libc::SA_NODEFER;
            libc::sigemptyset(&mut sa.sa_mask);
            let prev = std::ptr::addr_of_mut!(PREVIOUS[i]) as *mut libc::sigaction;
            if libc::sigaction(sig, &sa, prev) != 0 {
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
    unsafe {
        let mut old: libc::stack_t = std::mem::zeroed();
        libc::sigaltstack(std::ptr::null(), &mut old);
        if old.ss_flags & libc::SS_DISABLE == 0 && old.ss_size >= ALTSTACK_SIZE {
            ALTSTACK.with(|c| c.set(true));
            return;
        }
        // Leaked on purpose: it must outlive every signal on this thread.
        let mem = libc::mmap(
            std::ptr::null_mut(),
            ALTSTACK_SIZE,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        if mem == libc::MAP_FAILED {
            return;
        }
        let st = libc::stack_t {
            ss_sp: mem,
            ss_flags: 0,
            ss_size: ALTSTACK_SIZE,
        };
        libc::sigaltstack(&st, std::ptr::null_mut());
    }
    ALTSTACK.with(|c| c.set(true));
}

unsafe extern "C" fn handler(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut c_void) {
    let uc = ctx as *mut libc::ucontext_t;
    let pc = (*uc).uc_mcontext.gregs[libc::REG_RIP as usize] as usize;
    let sp = (*uc).uc_mcontext.gregs[libc::REG_RSP as usize] as usize;
    let buf = JMPBUF.with(|c| c.get());
    if !buf.is_null() && is_wasm_code(pc) {
        let code = match sig {
            libc::SIGSEGV | libc::SIGBUS => {
                let addr = (*info).si_addr() as usize;
                // A fault just below the stack pointer is the stack guard.
                if addr <= sp && sp - addr < 1 << 20 || addr > sp && addr - sp < 4096 {
                    TrapCode::StackOverflow
                } else {
                    TrapCode::MemoryOutOfBounds
                }
            }
            libc::SIGFPE => TrapCode::IntegerDivisionByZero,
            _ => TrapCode::Unreachable,
        };
        PENDING.with(|p| {
            p.set(Some(RawTrap {
                code,
                pc: Some(pc),
                func_index: None,
                vmctx: 0,
            }))
        });
        wasabi_unwind(buf);
    }
    // Not ours: hand it to whoever was there before us.
    let i = SIGNALS.iter().position(|&s| s == sig).unwrap();
    let prev = &*(std::ptr::addr_of!(PREVIOUS[i]) as *const libc::sigaction);
    if prev.sa_sigaction == libc::SIG_DFL || prev.sa_sigaction == libc::SIG_IGN {
        // Restore and return: the fault repeats and takes the default action.
        libc::sigaction(sig, prev, std::ptr::null_mut());
    } else if prev.sa_flags & libc::SA_SIGINFO != 0 {
        let f: unsafe extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut c_void) =
            std::mem::transmute(prev.sa_sigaction);
        f(sig, info, ctx);
    } else {
        let f: unsafe extern "C" fn(libc::c_int) = std::mem::transmute(prev.sa_sigaction);
        f(sig);
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
