//! Requests decoded strictly: prost's codec answers a request that is not a valid message
//! (a string that is not UTF-8, a truncated field) with `INTERNAL`, as if the server were at
//! fault. [`RequestCodec`] encodes like prost and answers those with `INVALID_ARGUMENT`; its
//! message names the field, never the bytes. The generated server uses it (`build.rs`).

use std::marker::PhantomData;

use prost::Message;
use tonic::codec::{Codec, DecodeBuf, Decoder};
use tonic::Status;
use tonic_prost::ProstEncoder;

/// prost's encoding, strict decoding.
#[derive(Debug, Clone, Copy)]
pub struct RequestCodec<T, U> {
    _types: PhantomData<(T, U)>,
}

impl<T, U> Default for RequestCodec<T, U> {
    fn default() -> Self {
        Self {
            _types: PhantomData,
        }
    }
}

impl<T, U> Codec for RequestCodec<T, U>
where
    T: Message + Send + 'static,
    U: Message + Default + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = ProstEncoder<T>;
    type Decoder = RequestDecoder<U>;

    fn encoder(&mut self) -> Self::Encoder {
        ProstEncoder::default()
    }

    fn decoder(&mut self) -> Self::Decoder {
        RequestDecoder { _type: PhantomData }
    }
}

/// Decodes a request; a message that does not decode is the client's fault.
#[derive(Debug, Clone, Copy)]
pub struct RequestDecoder<U> {
    _type: PhantomData<U>,
}

impl<U: Message + Default> Decoder for RequestDecoder<U> {
    type Item = U;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<U>, Status> {
        U::decode(buf).map(Some).map_err(invalid_request)
    }
}

fn invalid_request(err: prost::DecodeError) -> Status {
    tracing::debug!(error = %err, "undecodable gRPC request");
    Status::invalid_argument(format!("the request is not a valid message: {err}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto;

    #[test]
    fn a_string_that_is_not_utf8_is_an_invalid_argument_naming_the_field() {
        // Field 1 (stream_id), length-delimited, 2 bytes that are not UTF-8.
        let bytes = [0x0a, 0x02, 0xff, 0xfe];

        let err = proto::GetStreamRequest::decode(bytes.as_slice())
            .map_err(invalid_request)
            .unwrap_err();

        assert_eq!(err.code(), tonic::Code::InvalidArgument);
        assert!(err.message().contains("stream_id"), "{}", err.message());
    }

    /// `bytes` as a length-delimited field `number`.
    fn field(number: u8, bytes: &[u8]) -> Vec<u8> {
        let mut out = vec![(number << 3) | 2];
        prost::encoding::encode_varint(bytes.len() as u64, &mut out);
        out.extend_from_slice(bytes);
        out
    }

    #[test]
    fn metadata_nested_ten_thousand_deep_is_refused_within_a_small_stack() {
        // Built from the inside out, without recursion: {"d": {"d": … 1.0 …}} as a Struct
        // (fields = 1; map entry key = 1, value = 2; Value.struct_value = 5, number_value = 2).
        let mut value = vec![0x11, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f];
        for _ in 0..10_000 {
            let entry = [field(1, b"d"), field(2, &value)].concat();
            value = field(5, &field(1, &entry));
        }
        let request = field(
            3,
            &value[1 + prost::length_delimiter_len(value.len() - 1)..],
        );

        // Less stack than any worker thread has, in a debug build: decoding stops at its
        // depth limit long before the stack would.
        let decoded = std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(move || {
                proto::CreateStreamRequest::decode(request.as_slice()).map_err(invalid_request)
            })
            .unwrap()
            .join()
            .expect("no stack overflow");

        assert_eq!(decoded.unwrap_err().code(), tonic::Code::InvalidArgument);
    }
}
