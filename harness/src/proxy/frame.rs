//! RESP frames off a byte stream, each with the exact bytes it came in, so the proxy can forward
//! them unchanged. Parsing is the `redis` crate's own decoder (`redis::ValueCodec`, the codec its
//! connections use), for RESP2 and RESP3 alike; this file only keeps the byte accounting.

use std::io;

use bytes::{Bytes, BytesMut};
use redis::Value;
use tokio::io::{AsyncRead, AsyncReadExt as _};
use tokio_util::codec::Decoder as _;

/// One RESP value and the bytes it was sent as.
#[derive(Debug)]
pub(crate) struct Frame {
    pub raw: Bytes,
    pub value: Value,
}

/// Splits a byte stream into [`Frame`]s.
#[derive(Default)]
pub(crate) struct FrameReader {
    codec: redis::ValueCodec,
    /// What the codec has not consumed yet.
    unparsed: BytesMut,
    /// Every byte since the end of the last whole frame.
    raw: BytesMut,
    /// How many bytes of `raw` the codec consumed into its partial state so far.
    consumed: usize,
}

impl FrameReader {
    /// The next whole frame, or `None` at a clean end of stream. Cancel-safe: bytes read before a
    /// cancellation stay buffered for the next call.
    pub async fn next<R: AsyncRead + Unpin>(
        &mut self,
        reader: &mut R,
    ) -> io::Result<Option<Frame>> {
        loop {
            if let Some(frame) = self.take()? {
                return Ok(Some(frame));
            }
            let start = self.raw.len();
            if reader.read_buf(&mut self.raw).await? == 0 {
                if self.raw.is_empty() {
                    return Ok(None);
                }
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "stream ended mid-frame"));
            }
            self.unparsed.extend_from_slice(&self.raw[start..]);
        }
    }

    /// A frame out of what is buffered, if a whole one is there.
    pub fn take(&mut self) -> io::Result<Option<Frame>> {
        if self.unparsed.is_empty() {
            return Ok(None);
        }
        let before = self.unparsed.len();
        let decoded = self.codec.decode(&mut self.unparsed);
        // The codec consumes the prefix of a frame it has parsed into its partial state even
        // when the frame is not whole yet, so the frame's length is the sum over calls.
        self.consumed += before - self.unparsed.len();
        match decoded {
            Ok(Some(value)) => {
                let raw = self.raw.split_to(self.consumed).freeze();
                self.consumed = 0;
                Ok(Some(Frame { raw, value }))
            }
            Ok(None) => Ok(None),
            Err(e) => Err(io::Error::new(io::ErrorKind::InvalidData, format!("not RESP: {e}"))),
        }
    }
}

/// A command's arguments as byte strings (`None` for a frame that is not a command array).
pub(crate) fn args(value: &Value) -> Option<Vec<&[u8]>> {
    let Value::Array(items) = value else { return None };
    items
        .iter()
        .map(|item| match item {
            Value::BulkString(b) => Some(b.as_slice()),
            Value::SimpleString(s) => Some(s.as_bytes()),
            _ => None,
        })
        .collect()
}

/// The command's name in upper case (`"?"` for a frame that is not a command).
pub(crate) fn command_name(value: &Value) -> String {
    args(value)
        .and_then(|a| a.first().map(|n| String::from_utf8_lossy(n).to_ascii_uppercase()))
        .unwrap_or_else(|| "?".into())
}

/// A RESP bulk string, as the server would send the reply to `ECHO text`.
pub(crate) fn bulk(text: &[u8]) -> Vec<u8> {
    let mut out = format!("${}\r\n", text.len()).into_bytes();
    out.extend_from_slice(text);
    out.extend_from_slice(b"\r\n");
    out
}

/// A RESP error reply.
pub(crate) fn error(text: &str) -> Vec<u8> {
    format!("-ERR {}\r\n", text.replace(['\r', '\n'], " ")).into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(input: &[u8], chunk: usize) -> Vec<(Vec<u8>, Value)> {
        let mut reader = FrameReader::default();
        let mut out = Vec::new();
        for piece in input.chunks(chunk) {
            reader.raw.extend_from_slice(piece);
            reader.unparsed.extend_from_slice(piece);
            while let Some(f) = reader.take().unwrap() {
                out.push((f.raw.to_vec(), f.value));
            }
        }
        assert!(reader.raw.is_empty(), "bytes left over: {:?}", reader.raw);
        out
    }

    #[test]
    fn frames_keep_their_exact_bytes_however_the_stream_is_cut() {
        let parts: [&[u8]; 6] = [
            b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\n",
            b"+OK\r\n",
            b"$-1\r\n",
            b"-ERR wrong\r\n",
            b"%1\r\n+a\r\n:1\r\n",
            b">2\r\n$7\r\nmessage\r\n$1\r\nx\r\n",
        ];
        let input = parts.concat();
        for chunk in [1, 2, 3, 7, input.len()] {
            let got = frames(&input, chunk);
            let raws: Vec<&[u8]> = got.iter().map(|(r, _)| r.as_slice()).collect();
            assert_eq!(raws, parts, "chunk size {chunk}");
        }
    }

    #[test]
    fn a_command_has_its_name_and_arguments() {
        let (_, value) = frames(b"*2\r\n$4\r\necho\r\n$2\r\nhi\r\n", 4).remove(0);
        assert_eq!(command_name(&value), "ECHO");
        assert_eq!(args(&value).unwrap(), vec![&b"echo"[..], &b"hi"[..]]);
        assert_eq!(bulk(b"hi"), b"$2\r\nhi\r\n");
    }
}
