//! This machine's CPU, identified from CPUID alone (no LLVM), for cache
//! fingerprints.
//!
//! What must stay true: two machines (or cores) with equal identities get
//! the same answer from LLVM's host detection (`sys::getHostCPUName` and
//! `getHostCPUFeatures`), so code compiled for one runs on the other. LLVM
//! derives both from CPUID (vendor, family, model, the feature leaves) and
//! XCR0 (which register states the OS saves); the identity holds every
//! input it reads and nothing that differs between cores of one machine
//! (the APIC id, the core type of hybrid parts).

use std::sync::OnceLock;

/// The CPU's identity: vendor, family/model/stepping, and the feature
/// words of every leaf LLVM's host detection reads, as hex.
pub fn host_cpu() -> &'static str {
    static ID: OnceLock<String> = OnceLock::new();
    ID.get_or_init(identify)
}

#[cfg(target_arch = "x86_64")]
fn identify() -> String {
    use std::arch::x86_64::{__cpuid_count, CpuidResult};
    use std::fmt::Write;
    let cpuid = |leaf: u32, sub: u32| -> CpuidResult { __cpuid_count(leaf, sub) };
    let l0 = cpuid(0, 0);
    let max = l0.eax;
    let vendor: Vec<u8> = [l0.ebx, l0.edx, l0.ecx]
        .iter()
        .flat_map(|r| r.to_le_bytes())
        .collect();
    let mut id = String::from_utf8_lossy(&vendor).into_owned();
    let words = |id: &mut String, leaf: u32, sub: u32, pick: &[(char, u32)]| {
        for (name, value) in pick {
            let _ = write!(id, " {leaf:x}.{sub}.{name}={value:08x}");
        }
    };
    let l1 = cpuid(1, 0);
    // EAX: stepping, model, family (and their extensions). EBX holds the
    // APIC id, which differs per core: left out.
    words(
        &mut id,
        1,
        0,
        &[('a', l1.eax), ('c', l1.ecx), ('d', l1.edx)],
    );
    if max >= 7 {
        let l7 = cpuid(7, 0);
        words(
            &mut id,
            7,
            0,
            &[('a', l7.eax), ('b', l7.ebx), ('c', l7.ecx), ('d', l7.edx)],
        );
        if l7.eax >= 1 {
            let l7s1 = cpuid(7, 1);
            words(
                &mut id,
                7,
                1,
                &[('a', l7s1.eax), ('b', l7s1.ebx), ('d', l7s1.edx)],
            );
        }
    }
    if max >= 0xd {
        words(&mut id, 0xd, 1, &[('a', cpuid(0xd, 1).eax)]);
    }
    if max >= 0x14 {
        words(&mut id, 0x14, 0, &[('b', cpuid(0x14, 0).ebx)]);
    }
    if max >= 0x19 {
        words(&mut id, 0x19, 0, &[('b', cpuid(0x19, 0).ebx)]);
    }
    if max >= 0x24 {
        words(&mut id, 0x24, 0, &[('b', cpuid(0x24, 0).ebx)]);
    }
    let max_ext = cpuid(0x8000_0000, 0).eax;
    if max_ext >= 0x8000_0001 {
        let e1 = cpuid(0x8000_0001, 0);
        words(&mut id, 0x8000_0001, 0, &[('c', e1.ecx), ('d', e1.edx)]);
    }
    if max_ext >= 0x8000_0008 {
        words(&mut id, 0x8000_0008, 0, &[('b', cpuid(0x8000_0008, 0).ebx)]);
    }
    // Which register states the OS enables (AVX, AVX-512, AMX): LLVM drops
    // the features whose state is not saved.
    const OSXSAVE: u32 = 1 << 27;
    if l1.ecx & OSXSAVE != 0 {
        // SAFETY: XGETBV is available when CPUID says the OS enabled
        // XSAVE (OSXSAVE, checked just above); reading XCR0 has no effects.
        let xcr0 = unsafe { xgetbv0() };
        let _ = write!(id, " xcr0={xcr0:x}");
    }
    id
}

/// XCR0, the register states the OS saves.
///
/// # Safety
/// Only on a CPU whose OS enabled XSAVE (CPUID.1:ECX.OSXSAVE).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "xsave")]
unsafe fn xgetbv0() -> u64 {
    std::arch::x86_64::_xgetbv(0)
}

#[cfg(not(target_arch = "x86_64"))]
fn identify() -> String {
    // No other target is supported; say so rather than guess.
    format!("unknown {}", std::env::consts::ARCH)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_is_stable_and_names_the_vendor_and_features() {
        let a = identify();
        // Same answer every time, from any thread (so from any core).
        let others: Vec<String> = (0..4)
            .map(|_| std::thread::spawn(identify).join().unwrap())
            .collect();
        assert!(others.iter().all(|o| *o == a), "{a} vs {others:?}");
        #[cfg(target_arch = "x86_64")]
        {
            assert!(
                a.starts_with("GenuineIntel") || a.starts_with("AuthenticAMD") || a.len() > 12,
                "{a}"
            );
            // Leaf 1 always exists; SSE2 (EDX bit 26) is baseline x86-64.
            let edx = a
                .split(' ')
                .find_map(|w| w.strip_prefix("1.0.d="))
                .expect("leaf 1 EDX");
            let edx = u32::from_str_radix(edx, 16).unwrap();
            assert_ne!(edx & (1 << 26), 0, "{a}");
        }
        assert_eq!(host_cpu(), a);
    }
}
