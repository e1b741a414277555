//! Bitcoin Core's block files (`blk*.dat`): each block framed as network magic, a
//! little-endian u32 size and the raw block. Since Core 28 the files may be XOR-obfuscated
//! with the 8-byte key in `xor.dat` next to them, applied by file offset.
//!
//! Core pre-allocates files in chunks, so a file often ends in zeros: a zero magic ends the
//! data. A size beyond the largest possible block is refused before anything is
//! allocated; a block cut short by the end of the file is reported with its offset.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

/// Mainnet magic, as on disk.
pub const MAINNET_MAGIC: [u8; 4] = [0xf9, 0xbe, 0xb4, 0xd9];
/// A serialised block is at most 4,000,000 bytes (BIP 141 weight limit).
pub const MAX_BLOCK_BYTES: u32 = 4_000_000;

#[derive(Debug, thiserror::Error)]
pub enum BlkError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{path} at byte {offset}: magic {found} is not the network's ({want}); the file is corrupt or of another network")]
    BadMagic {
        path: PathBuf,
        offset: u64,
        found: String,
        want: String,
    },
    #[error(
        "{path} at byte {offset}: block size {size} exceeds the {MAX_BLOCK_BYTES}-byte maximum"
    )]
    Oversize {
        path: PathBuf,
        offset: u64,
        size: u32,
    },
    #[error("{path} at byte {offset}: truncated: the frame announces {want} bytes, the file holds {have}")]
    Truncated {
        path: PathBuf,
        offset: u64,
        want: u64,
        have: u64,
    },
    #[error("{path}: xor.dat must hold 8 bytes, it holds {len}")]
    BadXorKey { path: PathBuf, len: usize },
}

/// The obfuscation key of a blocks folder: `xor.dat` if present, else none (all zero).
pub fn xor_key(blocks_dir: &Path) -> Result<[u8; 8], BlkError> {
    let path = blocks_dir.join("xor.dat");
    match std::fs::read(&path) {
        Ok(v) => v
            .as_slice()
            .try_into()
            .map_err(|_| BlkError::BadXorKey { path, len: v.len() }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok([0; 8]),
        Err(source) => Err(BlkError::Io { path, source }),
    }
}

/// One framed block: where it starts in the file (at its magic) and its raw bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub offset: u64,
    pub bytes: Vec<u8>,
}

/// Reads frames from a `blk*.dat` file in order.
pub struct BlkReader<R> {
    path: PathBuf,
    r: R,
    pos: u64,
    key: [u8; 8],
    magic: [u8; 4],
    done: bool,
}

impl BlkReader<io::BufReader<File>> {
    pub fn open(path: &Path, key: [u8; 8]) -> Result<Self, BlkError> {
        let f = File::open(path).map_err(|source| BlkError::Io {
            path: path.to_owned(),
            source,
        })?;
        Ok(Self::new(
            path,
            io::BufReader::with_capacity(1 << 20, f),
            key,
        ))
    }
}

impl<R: Read> BlkReader<R> {
    pub fn new(path: &Path, r: R, key: [u8; 8]) -> Self {
        BlkReader {
            path: path.to_owned(),
            r,
            pos: 0,
            key,
            magic: MAINNET_MAGIC,
            done: false,
        }
    }

    /// Reads up to `buf.len()` bytes, de-obfuscated; returns how many it got (fewer only at
    /// the end of the file).
    fn fill(&mut self, buf: &mut [u8]) -> Result<usize, BlkError> {
        let mut got = 0;
        while got < buf.len() {
            match self.r.read(&mut buf[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(source) => {
                    return Err(BlkError::Io {
                        path: self.path.clone(),
                        source,
                    })
                }
            }
        }
        if self.key != [0; 8] {
            for (i, b) in buf[..got].iter_mut().enumerate() {
                *b ^= self.key[((self.pos + i as u64) % 8) as usize];
            }
        }
        self.pos += got as u64;
        Ok(got)
    }

    fn next_frame(&mut self) -> Result<Option<Frame>, BlkError> {
        let offset = self.pos;
        let mut head = [0u8; 8];
        let got = self.fill(&mut head)?;
        if got == 0
            || (got >= 4 && head[..4] == [0; 4])
            || (got < 4 && head[..got].iter().all(|b| *b == 0))
        {
            return Ok(None);
        }
        if got < 8 {
            return Err(BlkError::Truncated {
                path: self.path.clone(),
                offset,
                want: 8,
                have: got as u64,
            });
        }
        if head[..4] != self.magic {
            return Err(BlkError::BadMagic {
                path: self.path.clone(),
                offset,
                found: hex(&head[..4]),
                want: hex(&self.magic),
            });
        }
        let size = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
        if size > MAX_BLOCK_BYTES {
            return Err(BlkError::Oversize {
                path: self.path.clone(),
                offset,
                size,
            });
        }
        let mut bytes = vec![0u8; size as usize];
        let have = self.fill(&mut bytes)?;
        if have < bytes.len() {
            return Err(BlkError::Truncated {
                path: self.path.clone(),
                offset,
                want: u64::from(size),
                have: have as u64,
            });
        }
        Ok(Some(Frame { offset, bytes }))
    }
}

impl BlkReader<&mut File> {
    /// Reads the one frame that starts at `offset` (found by an earlier pass) from the
    /// open `file` at `path`.
    pub fn frame_at(
        path: &Path,
        file: &mut File,
        key: [u8; 8],
        offset: u64,
    ) -> Result<Frame, BlkError> {
        use std::io::{Seek, SeekFrom};
        file.seek(SeekFrom::Start(offset))
            .map_err(|source| BlkError::Io {
                path: path.to_owned(),
                source,
            })?;
        let mut r = BlkReader::new(path, file, key);
        r.pos = offset;
        r.next_frame()?.ok_or_else(|| BlkError::Truncated {
            path: path.to_owned(),
            offset,
            want: 8,
            have: 0,
        })
    }
}

impl<R: Read> Iterator for BlkReader<R> {
    type Item = Result<Frame, BlkError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let r = self.next_frame().transpose();
        if !matches!(r, Some(Ok(_))) {
            self.done = true;
        }
        r
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(body: &[u8]) -> Vec<u8> {
        let mut v = MAINNET_MAGIC.to_vec();
        v.extend_from_slice(&(body.len() as u32).to_le_bytes());
        v.extend_from_slice(body);
        v
    }

    fn read(bytes: &[u8], key: [u8; 8]) -> Vec<Result<Frame, BlkError>> {
        BlkReader::new(Path::new("blk-test.dat"), bytes, key).collect()
    }

    #[test]
    fn frames_zero_padding_and_xor() {
        let mut file = frame(b"abc");
        file.extend(frame(b"defgh"));
        file.extend([0u8; 16]);
        let plain: Vec<_> = read(&file, [0; 8])
            .into_iter()
            .map(|f| f.unwrap())
            .collect();
        assert_eq!(plain.len(), 2);
        assert_eq!(
            (plain[1].offset, plain[1].bytes.as_slice()),
            (11, &b"defgh"[..])
        );
        // The same file obfuscated with a key reads back the same.
        let key = [1, 2, 3, 4, 5, 6, 7, 0x80];
        let xored: Vec<u8> = file
            .iter()
            .enumerate()
            .map(|(i, b)| b ^ key[i % 8])
            .collect();
        let back: Vec<_> = read(&xored, key).into_iter().map(|f| f.unwrap()).collect();
        assert_eq!(back, plain);
    }

    #[test]
    fn bad_magic_oversize_and_truncation_name_the_offset() {
        let mut file = frame(b"abc");
        file.extend([0xfa, 0xbf, 0xb5, 0xda, 1, 0, 0, 0, 9]);
        let r = read(&file, [0; 8]);
        let e = r[1].as_ref().unwrap_err().to_string();
        assert!(
            e.contains("blk-test.dat at byte 11") && e.contains("fabfb5da"),
            "{e}"
        );

        let mut big = MAINNET_MAGIC.to_vec();
        big.extend_from_slice(&u32::MAX.to_le_bytes());
        let e = read(&big, [0; 8]).remove(0).unwrap_err();
        assert!(
            matches!(
                e,
                BlkError::Oversize {
                    offset: 0,
                    size: u32::MAX,
                    ..
                }
            ),
            "{e}"
        );

        let mut cut = frame(b"abcdef");
        cut.truncate(10);
        let e = read(&cut, [0; 8]).remove(0).unwrap_err();
        assert!(
            matches!(
                e,
                BlkError::Truncated {
                    offset: 0,
                    want: 6,
                    have: 2,
                    ..
                }
            ),
            "{e}"
        );
        // After an error the reader stops.
        assert_eq!(read(&cut, [0; 8]).len(), 1);
    }
}
