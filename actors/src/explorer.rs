//! The explorer (issue 28, point 3): a small read-only web page at `/` of
//! every full node's API, over the same JSON API a client uses: chains with
//! heights, leaders, epochs and committees, recent blocks, a block's and a
//! record's page with its receipt, an object's history and lineage, search
//! by record hash, object id or `chain/height`. Its files are built into
//! the binary (no external network); every value is set as text.
//!
//! A record's receipt is checked in the page, not trusted from the node:
//! `receipt.wasm` is strata-chains' `Receipt::verify` built for wasm32
//! (verify-wasm/, built by build.rs), run against the genesis the node
//! serves (`GET /v1/genesis`), whose digest the page shows for the reader
//! to compare with the one they trust.

use actix_web::{web, HttpResponse};

const INDEX: &str = include_str!("explorer/index.html");
const SCRIPT: &str = include_str!("explorer/explorer.js");
const STYLE: &str = include_str!("explorer/explorer.css");
/// Empty when the build skipped it (`STRATA_NO_RECEIPT_WASM`).
const RECEIPT_CHECK: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/receipt.wasm"));

fn asset(content_type: &str, body: &'static [u8]) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(content_type)
        // Nothing from elsewhere: scripts, styles and requests stay on this
        // node; WebAssembly only from this node's own module.
        .insert_header((
            "Content-Security-Policy",
            "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; \
             connect-src 'self'",
        ))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .body(body)
}

async fn index() -> HttpResponse {
    asset("text/html; charset=utf-8", INDEX.as_bytes())
}

async fn script() -> HttpResponse {
    asset("text/javascript; charset=utf-8", SCRIPT.as_bytes())
}

async fn style() -> HttpResponse {
    asset("text/css; charset=utf-8", STYLE.as_bytes())
}

async fn receipt_check() -> HttpResponse {
    if RECEIPT_CHECK.is_empty() {
        return HttpResponse::NotFound()
            .content_type("text/plain; charset=utf-8")
            .body("this build has no receipt check (built with STRATA_NO_RECEIPT_WASM)");
    }
    asset("application/wasm", RECEIPT_CHECK)
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/").route(web::get().to(index)))
        .service(web::resource("/explorer/explorer.js").route(web::get().to(script)))
        .service(web::resource("/explorer/explorer.css").route(web::get().to(style)))
        .service(web::resource("/explorer/receipt.wasm").route(web::get().to(receipt_check)));
}
