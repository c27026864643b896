//! LiveKit's Ingress service: every method needs the `ingressAdmin` grant.

use actix_web::HttpResponse;
use livekit_protocol as proto;

use super::{require_or_unauthenticated, Call, Service, TwirpError};
use crate::ingress::IngressUrls;
use crate::Emulator;

/// RTMP's well-known port, where encoders are told to push.
const RTMP_PORT: u16 = 1935;

pub(super) const SERVICE: Service = Service {
    name: "Ingress",
    methods: &[
        "CreateIngress",
        "UpdateIngress",
        "ListIngress",
        "DeleteIngress",
    ],
    answer,
};

fn answer(emulator: &Emulator, call: &Call<'_>) -> Result<HttpResponse, TwirpError> {
    let admin = call.claims.video.ingress_admin;
    match call.method {
        "CreateIngress" => {
            let r: proto::CreateIngressRequest = call.decode()?;
            require_or_unauthenticated(admin, "ingressAdmin")?;
            call.encode(&emulator.create_ingress(r, &urls(emulator, call))?)
        }
        "UpdateIngress" => {
            let r: proto::UpdateIngressRequest = call.decode()?;
            require_or_unauthenticated(admin, "ingressAdmin")?;
            call.encode(&emulator.update_ingress(r)?)
        }
        "ListIngress" => {
            let r: proto::ListIngressRequest = call.decode()?;
            require_or_unauthenticated(admin, "ingressAdmin")?;
            call.encode(&proto::ListIngressResponse {
                items: emulator.list_ingress(&r.room_name, &r.ingress_id)?,
                next_page_token: None,
            })
        }
        "DeleteIngress" => {
            let r: proto::DeleteIngressRequest = call.decode()?;
            require_or_unauthenticated(admin, "ingressAdmin")?;
            call.encode(&emulator.delete_ingress(&r.ingress_id)?)
        }
        _ => Err(call.unknown_method()),
    }
}

/// The configured base URLs, or addresses on the host the client reached the emulator at.
fn urls(emulator: &Emulator, call: &Call<'_>) -> IngressUrls {
    let config = emulator.config();
    let info = call.request.connection_info();
    let host = info.host();
    IngressUrls {
        rtmp: config
            .rtmp_base_url
            .clone()
            .unwrap_or_else(|| format!("rtmp://{}:{RTMP_PORT}/live", hostname(host))),
        whip: config
            .whip_base_url
            .clone()
            .unwrap_or_else(|| format!("{}://{host}/w", info.scheme())),
    }
}

/// `host[:port]` (or `[v6]:port`) without the port.
fn hostname(authority: &str) -> &str {
    if authority.starts_with('[') {
        return authority
            .find(']')
            .and_then(|end| authority.get(..=end))
            .unwrap_or(authority);
    }
    authority
        .rsplit_once(':')
        .map_or(authority, |(host, _)| host)
}

#[cfg(test)]
mod tests {
    use super::hostname;

    #[test]
    fn the_port_is_dropped_from_any_authority() {
        assert_eq!(hostname("127.0.0.1:7880"), "127.0.0.1");
        assert_eq!(hostname("[::1]:7880"), "[::1]");
        assert_eq!(hostname("example.com"), "example.com");
    }
}
