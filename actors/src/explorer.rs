//! The explorer (issue 28, point 3): a small read-only web page at `/` of
//! every full node's API, over the same JSON API a client uses: chains with
//! heights, leaders, epochs and committees, recent blocks, a block's and a
//! record's page with its receipt, an object's history and lineage, search
//! by record hash, object id or `chain/height`. Its files are built into
//! the binary (no external network); every value is set as text.

use actix_web::{web, HttpResponse};

const INDEX: &str = include_str!("explorer/index.html");
const SCRIPT: &str = include_str!("explorer/explorer.js");
const STYLE: &str = include_str!("explorer/explorer.css");

fn asset(content_type: &str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(content_type)
        // Nothing from elsewhere: scripts, styles and requests stay on this node.
        .insert_header((
            "Content-Security-Policy",
            "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'",
        ))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .body(body)
}

async fn index() -> HttpResponse {
    asset("text/html; charset=utf-8", INDEX)
}

async fn script() -> HttpResponse {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

async fn style() -> HttpResponse {
    asset("text/css; charset=utf-8", STYLE)
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/").route(web::get().to(index)))
        .service(web::resource("/explorer/explorer.js").route(web::get().to(script)))
        .service(web::resource("/explorer/explorer.css").route(web::get().to(style)));
}
