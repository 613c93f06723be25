//! Guest-memory access: bounds-checked little-endian reads and writes into
//! the caller's linear memory.
//!
//! What must stay true: nothing outside this file turns a guest pointer into
//! a host address. Every access goes through [`GuestMemory::range`], which
//! checks `ptr + len <= memory length` without overflow and answers
//! [`Errno::FAULT`] otherwise, so a bad pointer is an errno for the guest,
//! never a host crash.

use super::types::{Errno, IOVEC_SIZE};
use std::ops::Range;

/// The caller's linear memory, borrowed for one host call.
pub struct GuestMemory<'a> {
    bytes: &'a mut [u8],
}

/// One `iovec`/`ciovec` after validation: its buffer lies inside memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IoVec {
    pub ptr: u32,
    pub len: u32,
}

impl<'a> GuestMemory<'a> {
    pub fn new(bytes: &'a mut [u8]) -> GuestMemory<'a> {
        GuestMemory { bytes }
    }

    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The host range of guest bytes `ptr..ptr + len`, or `FAULT`.
    pub fn range(&self, ptr: u32, len: usize) -> Result<Range<usize>, Errno> {
        let start = ptr as usize;
        let end = start.checked_add(len).ok_or(Errno::FAULT)?;
        if end > self.bytes.len() {
            return Err(Errno::FAULT);
        }
        Ok(start..end)
    }

    /// Checks that `ptr..ptr + len` is inside memory (to validate an output
    /// pointer before doing something that cannot be undone).
    pub fn check(&self, ptr: u32, len: usize) -> Result<(), Errno> {
        self.range(ptr, len).map(|_| ())
    }

    pub fn slice(&self, ptr: u32, len: u32) -> Result<&[u8], Errno> {
        let r = self.range(ptr, len as usize)?;
        Ok(&self.bytes[r])
    }

    pub fn slice_mut(&mut self, ptr: u32, len: u32) -> Result<&mut [u8], Errno> {
        let r = self.range(ptr, len as usize)?;
        Ok(&mut self.bytes[r])
    }

    /// Copies `data` to `ptr`.
    pub fn write(&mut self, ptr: u32, data: &[u8]) -> Result<(), Errno> {
        let r = self.range(ptr, data.len())?;
        self.bytes[r].copy_from_slice(data);
        Ok(())
    }

    fn array<const N: usize>(&self, ptr: u32) -> Result<[u8; N], Errno> {
        let r = self.range(ptr, N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(&self.bytes[r]);
        Ok(out)
    }

    pub fn read_u8(&self, ptr: u32) -> Result<u8, Errno> {
        Ok(self.array::<1>(ptr)?[0])
    }
    pub fn read_u16(&self, ptr: u32) -> Result<u16, Errno> {
        Ok(u16::from_le_bytes(self.array(ptr)?))
    }
    pub fn read_u32(&self, ptr: u32) -> Result<u32, Errno> {
        Ok(u32::from_le_bytes(self.array(ptr)?))
    }
    pub fn read_u64(&self, ptr: u32) -> Result<u64, Errno> {
        Ok(u64::from_le_bytes(self.array(ptr)?))
    }

    pub fn write_u8(&mut self, ptr: u32, v: u8) -> Result<(), Errno> {
        self.write(ptr, &[v])
    }
    pub fn write_u16(&mut self, ptr: u32, v: u16) -> Result<(), Errno> {
        self.write(ptr, &v.to_le_bytes())
    }
    pub fn write_u32(&mut self, ptr: u32, v: u32) -> Result<(), Errno> {
        self.write(ptr, &v.to_le_bytes())
    }
    pub fn write_u64(&mut self, ptr: u32, v: u64) -> Result<(), Errno> {
        self.write(ptr, &v.to_le_bytes())
    }

    /// A path or other string argument: UTF-8 (`ILSEQ` otherwise).
    pub fn str(&self, ptr: u32, len: u32) -> Result<&str, Errno> {
        std::str::from_utf8(self.slice(ptr, len)?).map_err(|_| Errno::ILSEQ)
    }

    /// Reads and validates an array of `count` iovecs at `ptr`: the array
    /// and every buffer it names must lie inside memory (`FAULT`), and the
    /// total length must fit a `size` (`INVAL`, as `readv` says).
    pub fn iovecs(&self, ptr: u32, count: u32) -> Result<Vec<IoVec>, Errno> {
        let bytes = (count as usize)
            .checked_mul(IOVEC_SIZE as usize)
            .ok_or(Errno::FAULT)?;
        let r = self.range(ptr, bytes)?;
        let mut out = Vec::with_capacity(count as usize);
        let mut total: u64 = 0;
        for chunk in self.bytes[r].chunks_exact(IOVEC_SIZE as usize) {
            let v = IoVec {
                ptr: u32::from_le_bytes(chunk[0..4].try_into().unwrap()),
                len: u32::from_le_bytes(chunk[4..8].try_into().unwrap()),
            };
            self.check(v.ptr, v.len as usize)?;
            total += v.len as u64;
            out.push(v);
        }
        if total > u32::MAX as u64 {
            return Err(Errno::INVAL);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds() {
        let mut buf = vec![0u8; 16];
        let mut m = GuestMemory::new(&mut buf);
        assert_eq!(m.write_u32(12, 0xdead_beef), Ok(()));
        assert_eq!(m.read_u32(12), Ok(0xdead_beef));
        assert_eq!(m.write_u32(13, 1), Err(Errno::FAULT));
        assert_eq!(m.read_u64(u32::MAX), Err(Errno::FAULT));
        assert_eq!(m.slice(16, 0).map(|s| s.len()), Ok(0));
        assert_eq!(m.slice(17, 0).map(|s| s.len()), Err(Errno::FAULT));
        assert_eq!(m.slice(0, u32::MAX).map(|s| s.len()), Err(Errno::FAULT));
        assert_eq!(m.read_u8(15), Ok(0xde));
    }

    #[test]
    fn iovecs_are_checked() {
        let mut buf = vec![0u8; 64];
        let mut m = GuestMemory::new(&mut buf);
        m.write_u32(0, 32).unwrap();
        m.write_u32(4, 8).unwrap();
        m.write_u32(8, 60).unwrap();
        m.write_u32(12, 4).unwrap();
        assert_eq!(
            m.iovecs(0, 2),
            Ok(vec![IoVec { ptr: 32, len: 8 }, IoVec { ptr: 60, len: 4 }])
        );
        m.write_u32(12, 5).unwrap();
        assert_eq!(m.iovecs(0, 2), Err(Errno::FAULT));
        assert_eq!(m.iovecs(60, 1), Err(Errno::FAULT));
        assert_eq!(m.iovecs(0, u32::MAX), Err(Errno::FAULT));
        assert_eq!(m.str(32, 0), Ok(""));
        m.write(40, &[0xff, 0xfe]).unwrap();
        assert_eq!(m.str(40, 2), Err(Errno::ILSEQ));
    }
}
