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
    let mut buf = vec![0u8; len];
    io.read_exact(&mut buf).await?;
    Ok(buf)
}

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
        });
    }
}
