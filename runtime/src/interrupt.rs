//! Interrupting running wasm: epochs, interrupt requests, and how code
//! compiled with epoch checks notices them without comparing anything.
//!
//! **The checks.** At each loop header, code compiled with epoch checks
//! loads one byte from `VMRuntimeLimits::poll` and ignores it. The byte lies
//! on the store's *poll page*, readable while nothing should stop the store,
//! so the check is one load that hits the L1 cache: no compare, no branch,
//! no counter kept alive across the loop. At the entry of each function
//! that makes calls there is no extra check at all: the entry's stack check
//! (`sp < VMRuntimeLimits::stack_limit`) does the job.
//!
//! **Stopping a store.** The host makes the poll page unreadable
//! (`mprotect(PROT_NONE)`) and sets `stack_limit` to `usize::MAX`. The next
//! loop header faults: the signal handler (`crate::traps`) asks
//! [`poll_owner`] whose page it is; the next function entry fails its stack
//! check and calls the `StackLimitHit` builtin. Either asks
//! [`VMRuntimeLimits::take_stop`] which trap to raise.
//!
//! **When a store should stop.** When an interrupt was requested
//! ([`crate::store::InterruptHandle`]) or the engine's epoch ([`EpochClock`])
//! has reached the store's deadline. Every change of either input is
//! followed by [`VMRuntimeLimits::sync_poll`], which sets the page's
//! protection and the stack limit from the inputs, then re-reads them and
//! starts again if they changed meanwhile. So whichever thread changes an
//! input last also writes last, and two threads syncing at once cannot leave
//! a stale state. A check that finds the store should not stop after all (a
//! request withdrawn between the arming and the check) re-syncs and goes
//! on: the faulting load is retried, the builtin returns.
//!
//! **Cost** ("Cost of interruption checks" in bench/results/results.md):
//! 3.7 % on the benchmark geomean of execution time. The earlier design, two volatile loads and a
//! compare of the epoch with the deadline at every function entry and every
//! 1,024 loop iterations, cost 6.9 %: the loop countdown alone cost 9-10 %
//! on fannkuch, sort and stencil. Loads are what the poll spends, so tight
//! loops that are bound by loads and stores still pay (up to 15-20 %).
//!
//! **Where pages live.** All poll pages are slots of one region reserved
//! at first use ([`MAX_POLL_PAGES`] pages of address space, readable, never
//! written: they all map the kernel's shared zero page, so a page costs no
//! memory), with a table from slot to owning limits. The signal handler
//! finds the owner of a faulting address with two atomic loads, without a
//! lock or an allocation.
//!
//! What must stay true:
//! - An owner is registered before its page can be armed and unregistered
//!   (and the page disarmed) before its limits are freed; the limits live in
//!   an `Arc` that every running call of the store keeps alive.
//! - Everything [`VMRuntimeLimits::take_stop`] and `sync_poll` do is
//!   async-signal-safe: atomics and `mprotect`.
//! - Only stores with a poll page stop: a store whose code has no epoch
//!   checks keeps its real stack limit whatever is requested.

use std::sync::atomic::{AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};

use crate::vmcontext::{TrapCode, VMRuntimeLimits};

/// How many poll pages (so stores with epoch checks) may exist at once.
pub const MAX_POLL_PAGES: usize = 1 << 20;

/// The engine-wide epoch: a counter a timer thread advances, and the stores
/// whose deadlines it is compared with.
#[derive(Debug, Default)]
pub struct EpochClock {
    counter: AtomicU64,
    /// Limits of the stores that poll (pruned of dead ones as it goes).
    stores: Mutex<Vec<Weak<VMRuntimeLimits>>>,
}

impl EpochClock {
    pub fn new() -> EpochClock {
        EpochClock::default()
    }

    /// The current epoch.
    pub fn now(&self) -> u64 {
        self.counter.load(Ordering::SeqCst)
    }

    /// Advances the epoch by one and stops every store whose deadline is
    /// the new epoch. A deadline is reached exactly once (the counter moves
    /// by one), so only those stores are looked at; a deadline set at or
    /// below the current epoch is acted on by `set_epoch_deadline` itself.
    /// Costs one atomic load per polling store.
    pub fn increment(&self) {
        let now = self.counter.fetch_add(1, Ordering::SeqCst) + 1;
        let mut stores = self.stores.lock().unwrap_or_else(|e| e.into_inner());
        stores.retain(|w| match w.upgrade() {
            Some(limits) => {
                if limits.epoch_deadline.load(Ordering::SeqCst) == now {
                    limits.sync_poll();
                }
                true
            }
            None => false,
        });
    }

    /// The limits of a new store that follows this clock: with a poll page
    /// (when one can be had; without, its code never stops) owned by them,
    /// and among the stores `increment` looks at.
    pub fn new_store_limits(&self) -> Arc<VMRuntimeLimits> {
        let mut limits = VMRuntimeLimits {
            epoch_counter: &self.counter,
            ..VMRuntimeLimits::default()
        };
        if let Some(page) = PollPage::new() {
            limits.poll = page.addr();
            limits.poll_page = Some(page);
        }
        let limits = Arc::new(limits);
        if let Some(page) = &limits.poll_page {
            page.set_owner(Arc::as_ptr(&limits));
        }
        let mut stores = self.stores.lock().unwrap_or_else(|e| e.into_inner());
        stores.push(Arc::downgrade(&limits));
        limits
    }
}

/// One slot of the poll-page region, owned by one store's limits.
#[derive(Debug)]
pub(crate) struct PollPage {
    slot: usize,
}

/// The reserved region of poll pages.
struct Region {
    /// Free slots, and the first never-used one.
    free: Mutex<(Vec<usize>, usize)>,
}

/// Base address of the region (0 until it exists), for the signal handler.
static REGION_BASE: AtomicUsize = AtomicUsize::new(0);
/// The owner table: `MAX_POLL_PAGES` pointers, slot -> limits (null: free).
static OWNERS: AtomicPtr<AtomicPtr<VMRuntimeLimits>> = AtomicPtr::new(std::ptr::null_mut());
static REGION: OnceLock<Option<Region>> = OnceLock::new();

/// The host page size (4 KiB on x86-64 Linux, the only target).
const PAGE: usize = 4096;

fn page_size() -> usize {
    PAGE
}

/// Maps `len` bytes of fresh anonymous memory with `prot`, reserving no
/// swap; null if the kernel refuses.
fn map_anonymous(len: usize, prot: libc::c_int) -> *mut u8 {
    // SAFETY: a fresh private anonymous mapping aliases nothing.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            prot,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    match p {
        libc::MAP_FAILED => std::ptr::null_mut(),
        p => p as *mut u8,
    }
}

fn region() -> Option<&'static Region> {
    REGION
        .get_or_init(|| {
            let base = map_anonymous(MAX_POLL_PAGES * page_size(), libc::PROT_READ);
            let owners = map_anonymous(
                MAX_POLL_PAGES * std::mem::size_of::<AtomicPtr<VMRuntimeLimits>>(),
                libc::PROT_READ | libc::PROT_WRITE,
            );
            if base.is_null() || owners.is_null() {
                return None;
            }
            // Zeroed memory is a table of null `AtomicPtr`s.
            OWNERS.store(owners as *mut AtomicPtr<VMRuntimeLimits>, Ordering::SeqCst);
            REGION_BASE.store(base as usize, Ordering::SeqCst);
            Some(Region {
                free: Mutex::new((Vec::new(), 0)),
            })
        })
        .as_ref()
}

/// The owner-table entry of `slot`.
fn owner_slot(slot: usize) -> &'static AtomicPtr<VMRuntimeLimits> {
    assert!(slot < MAX_POLL_PAGES);
    let table = OWNERS.load(Ordering::SeqCst);
    // SAFETY: a slot exists only once the region (and so the table, which
    // has MAX_POLL_PAGES entries and is never unmapped) exists.
    unsafe { &*table.add(slot) }
}

impl PollPage {
    /// A free poll page, readable, with no owner yet; `None` when the
    /// region cannot be mapped or every slot is taken.
    pub(crate) fn new() -> Option<PollPage> {
        let region = region()?;
        let mut free = region.free.lock().unwrap_or_else(|e| e.into_inner());
        let slot = match free.0.pop() {
            Some(s) => s,
            None if free.1 < MAX_POLL_PAGES => {
                free.1 += 1;
                free.1 - 1
            }
            None => return None,
        };
        Some(PollPage { slot })
    }

    /// The address compiled code loads from.
    pub(crate) fn addr(&self) -> *const u8 {
        (REGION_BASE.load(Ordering::SeqCst) + self.slot * page_size()) as *const u8
    }

    /// Records the limits this page belongs to (what a fault on it means).
    pub(crate) fn set_owner(&self, limits: *const VMRuntimeLimits) {
        owner_slot(self.slot).store(limits as *mut _, Ordering::SeqCst);
    }

    /// Makes loads from the page fault (`armed`) or succeed.
    fn protect(&self, armed: bool) {
        let prot = if armed {
            libc::PROT_NONE
        } else {
            libc::PROT_READ
        };
        // SAFETY: the page is this slot's page of the region, which is
        // never unmapped and holds no Rust object; changing its protection
        // affects only the loads of compiled code, which the signal handler
        // turns into traps.
        let rc = unsafe { libc::mprotect(self.addr() as *mut libc::c_void, page_size(), prot) };
        // Fails only for an address outside a mapping (a wasabi bug).
        debug_assert_eq!(rc, 0, "mprotect of a poll page failed");
    }
}

impl Drop for PollPage {
    fn drop(&mut self) {
        self.protect(false);
        owner_slot(self.slot).store(std::ptr::null_mut(), Ordering::SeqCst);
        if let Some(region) = region() {
            let mut free = region.free.lock().unwrap_or_else(|e| e.into_inner());
            free.0.push(self.slot);
        }
    }
}

/// The limits whose poll page contains `addr`, if any. Async-signal-safe:
/// the signal handler calls it for every fault in wasm code.
pub(crate) fn poll_owner(addr: usize) -> Option<&'static VMRuntimeLimits> {
    let base = REGION_BASE.load(Ordering::SeqCst);
    if base == 0 || addr < base || addr >= base + MAX_POLL_PAGES * page_size() {
        return None;
    }
    let owner = owner_slot((addr - base) / page_size()).load(Ordering::SeqCst);
    // SAFETY: an owner is unregistered before its limits are freed, and a
    // fault on its page comes from a running call of its store, which keeps
    // the limits alive (module docs). The 'static is a lie the caller does
    // not keep: it uses the reference only during the fault.
    unsafe { owner.as_ref() }
}

impl VMRuntimeLimits {
    /// Whether the store should stop: an interrupt is pending or the
    /// epoch has reached the deadline.
    fn should_stop(&self) -> bool {
        self.interrupt_requested.load(Ordering::SeqCst) || self.deadline_reached()
    }

    fn deadline_reached(&self) -> bool {
        // SAFETY: `epoch_counter` is never null and outlives the limits
        // (see its field docs).
        let now = unsafe { &*self.epoch_counter }.load(Ordering::SeqCst);
        now >= self.epoch_deadline.load(Ordering::SeqCst)
    }

    /// Sets the poll page's protection and the stack limit from
    /// [`Self::should_stop`] (see the module docs for why the loop makes
    /// concurrent syncs safe). Call it after every change of the interrupt
    /// flag, the deadline or (when it reaches the deadline) the epoch.
    pub(crate) fn sync_poll(&self) {
        let Some(page) = &self.poll_page else {
            return;
        };
        loop {
            let stop = self.should_stop();
            let real = self.stack_limit_real.load(Ordering::SeqCst);
            self.stack_limit
                .store(if stop { usize::MAX } else { real }, Ordering::SeqCst);
            page.protect(stop);
            if self.should_stop() == stop && self.stack_limit_real.load(Ordering::SeqCst) == real {
                return;
            }
        }
    }

    /// Sets the stack limit on entry into wasm: `limit`, or `usize::MAX`
    /// while the store should stop. No system call: the page is left to
    /// [`Self::sync_poll`], which every change of the inputs runs.
    pub fn enter_with_stack_limit(&self, limit: usize) {
        self.stack_limit_real.store(limit, Ordering::SeqCst);
        if self.poll_page.is_none() {
            self.stack_limit.store(limit, Ordering::SeqCst);
            return;
        }
        loop {
            let stop = self.should_stop();
            self.stack_limit
                .store(if stop { usize::MAX } else { limit }, Ordering::SeqCst);
            if self.should_stop() == stop {
                return;
            }
        }
    }

    /// Asks running (or the next) wasm code compiled with epoch checks to
    /// trap with [`TrapCode::Interrupted`] at its next check. Any thread.
    pub fn request_interrupt(&self) {
        self.interrupt_requested.store(true, Ordering::SeqCst);
        self.sync_poll();
    }

    /// Withdraws an interrupt request no code has seen yet.
    pub fn clear_interrupt(&self) {
        self.interrupt_requested.store(false, Ordering::SeqCst);
        self.sync_poll();
    }

    /// Sets the epoch deadline: code traps once the epoch reaches it.
    pub fn set_epoch_deadline(&self, deadline: u64) {
        self.epoch_deadline.store(deadline, Ordering::SeqCst);
        self.sync_poll();
    }

    /// Called when a check found the store stopped (a fault on its poll
    /// page, in the signal handler, or a failed entry stack check): the
    /// trap to raise, consuming a pending interrupt request; or `None` when
    /// the store should not stop after all (the request was withdrawn) and
    /// the code may go on: the page is readable and the stack limit real
    /// again. Always `None` for a store whose code does not poll.
    pub(crate) fn take_stop(&self) -> Option<TrapCode> {
        self.poll_page.as_ref()?;
        let code = if self.interrupt_requested.swap(false, Ordering::SeqCst) {
            Some(TrapCode::Interrupted)
        } else if self.deadline_reached() {
            Some(TrapCode::DeadlineExceeded)
        } else {
            None
        };
        self.sync_poll();
        code
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether the byte compiled code would read is readable, asked of the
    /// kernel (`process_vm_readv` reports EFAULT instead of faulting).
    fn page_readable(p: *const u8) -> bool {
        let mut v = 0u8;
        // SAFETY: `p` is a page of this process; `process_vm_readv` on
        // ourselves reports EFAULT instead of faulting for an unreadable one.
        let local = libc::iovec {
            iov_base: &mut v as *mut u8 as *mut libc::c_void,
            iov_len: 1,
        };
        let remote = libc::iovec {
            iov_base: p as *mut libc::c_void,
            iov_len: 1,
        };
        // SAFETY: both iovecs describe one byte; the call copies at most that.
        let n = unsafe { libc::process_vm_readv(libc::getpid(), &local, 1, &remote, 1, 0) };
        n == 1
    }

    fn polling_limits(clock: &EpochClock) -> Arc<VMRuntimeLimits> {
        clock.new_store_limits()
    }

    #[test]
    fn interrupt_and_deadline_arm_the_page() {
        let clock = Arc::new(EpochClock::new());
        let limits = polling_limits(&clock);
        let poll = limits.poll;
        assert!(page_readable(poll));
        limits.request_interrupt();
        assert!(!page_readable(poll));
        assert_eq!(
            poll_owner(poll as usize).map(|l| l as *const _),
            Some(&*limits as *const _)
        );
        assert_eq!(limits.take_stop(), Some(TrapCode::Interrupted));
        assert!(page_readable(poll), "a delivered interrupt disarms");

        limits.set_epoch_deadline(clock.now() + 2);
        clock.increment();
        assert!(page_readable(poll));
        clock.increment();
        assert!(!page_readable(poll), "the deadline is reached");
        assert_eq!(limits.take_stop(), Some(TrapCode::DeadlineExceeded));
        assert!(!page_readable(poll), "stays armed until the deadline moves");
        limits.set_epoch_deadline(clock.now() + 1);
        assert!(page_readable(poll));
    }

    #[test]
    fn a_withdrawn_interrupt_resumes() {
        let clock = Arc::new(EpochClock::new());
        let limits = polling_limits(&clock);
        limits.request_interrupt();
        // The request is withdrawn, but a fault was already on its way.
        limits.interrupt_requested.store(false, Ordering::SeqCst);
        assert_eq!(limits.take_stop(), None);
        assert!(page_readable(limits.poll));
    }

    #[test]
    fn pages_are_reused_and_unowned_after_drop() {
        let clock = Arc::new(EpochClock::new());
        let limits = polling_limits(&clock);
        let poll = limits.poll as usize;
        limits.request_interrupt();
        drop(limits);
        assert!(poll_owner(poll).is_none());
        assert!(page_readable(poll as *const u8), "freed pages are disarmed");
        clock.increment(); // prunes the dead store
        assert!(clock.stores.lock().unwrap().is_empty());
    }
}
