//! Framing: one length-prefixed byte string per message, read with a size
//! limit (a peer announcing a larger message is cut off before anything is
//! allocated for it). Request-response uses one frame per request and per
//! response; direct lanes send many frames down one long-lived stream.

use std::io;

use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::request_response;
use libp2p::StreamProtocol;

pub const PROTOCOL: StreamProtocol = StreamProtocol::new("/strata/req/1");

#[derive(Clone, Debug)]
pub struct BytesCodec {
    pub max_bytes: usize,
}

pub(crate) async fn read_frame<T: AsyncRead + Unpin + Send>(
    io: &mut T,
    max: usize,
) -> io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    io.read_exact(&mut len).await?;
    let len = u32::from_be_bytes(len) as usize;
    if len > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("message of {len} bytes exceeds the limit of {max}"),
        ));
    }
    // The buffer grows with the bytes that really arrive: a peer that
    // announces the limit and sends a few bytes costs a few bytes (it once
    // cost the announced length, up to 40 MiB per stream, at once).
    let mut buf = Vec::with_capacity(len.min(FIRST_READ));
    io.take(len as u64).read_to_end(&mut buf).await?;
    if buf.len() != len {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("message ended after {} of {len} bytes", buf.len()),
        ));
    }
    Ok(buf)
}

/// Bytes reserved for a frame before any of it has arrived.
const FIRST_READ: usize = 64 << 10;

/// Writes one frame and leaves the stream open (no flush).
pub(crate) async fn put_frame<T: AsyncWrite + Unpin>(io: &mut T, data: &[u8]) -> io::Result<()> {
    let len = u32::try_from(data.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "message too large"))?;
    io.write_all(&len.to_be_bytes()).await?;
    io.write_all(data).await
}

async fn write_frame<T: AsyncWrite + Unpin + Send>(io: &mut T, data: Vec<u8>) -> io::Result<()> {
    put_frame(io, &data).await?;
    io.close().await
}

impl request_response::Codec for BytesCodec {
    type Protocol = StreamProtocol;
    type Request = Vec<u8>;
    type Response = Vec<u8>;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Vec<u8>>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_frame(io, self.max_bytes).await
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Vec<u8>>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_frame(io, self.max_bytes).await
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        req: Vec<u8>,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, req).await
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        res: Vec<u8>,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, res).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::io::Cursor;

    #[test]
    fn frames_round_trip_and_oversized_frames_are_refused() {
        futures::executor::block_on(async {
            let mut buf = Cursor::new(Vec::new());
            write_frame(&mut buf, b"hello".to_vec()).await.unwrap();
            let bytes = buf.into_inner();
            let mut r = Cursor::new(bytes.clone());
            assert_eq!(read_frame(&mut r, 10).await.unwrap(), b"hello");
            let mut r = Cursor::new(bytes);
            assert!(read_frame(&mut r, 4).await.is_err());
            // A length prefix promising more than what follows.
            let mut r = Cursor::new(vec![0, 0, 0, 9, 1, 2]);
            assert!(read_frame(&mut r, 100).await.is_err());
            // Announcing 40 MiB and sending 3 bytes reserves 64 KiB, not
            // 40 MiB, and fails at the end of the stream.
            let mut announced = (40u32 << 20).to_be_bytes().to_vec();
            announced.extend_from_slice(&[1, 2, 3]);
            let mut r = Cursor::new(announced);
            let err = read_frame(&mut r, 40 << 20).await.unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
            // A frame larger than the first reservation still arrives whole.
            let big = vec![7u8; FIRST_READ * 3 + 5];
            let mut buf = Cursor::new(Vec::new());
            write_frame(&mut buf, big.clone()).await.unwrap();
            let mut r = Cursor::new(buf.into_inner());
            assert_eq!(read_frame(&mut r, 1 << 20).await.unwrap(), big);
        });
    }
}
