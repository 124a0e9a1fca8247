//! [`serve`]: the HTTP server as one call, so the composition root names
//! no HTTP framework. It owns the accept loop, graceful shutdown and the
//! grace period (mini-redis's `server::run(listener, shutdown)`).

use std::future::{Future, IntoFuture};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::net::TcpListener;

use crate::routes::router_with_shutdown_flag;
use crate::{HttpSettings, Services};

/// Serves the contract on `listener` until `shutdown` resolves; then
/// `/readyz` answers 503, no new connection is accepted, and requests in
/// flight get `settings.shutdown_grace` to finish before this returns.
///
/// # Errors
/// An I/O error of the listener.
pub async fn serve(
    listener: TcpListener,
    services: Services,
    settings: HttpSettings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let grace = settings.shutdown_grace;
    let shutting_down = Arc::new(AtomicBool::new(false));
    let router = router_with_shutdown_flag(services, settings, shutting_down.clone());
    let (stopping_tx, stopping_rx) = tokio::sync::oneshot::channel::<()>();
    let serving = axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        shutdown.await;
        shutting_down.store(true, Ordering::Relaxed);
        let _ = stopping_tx.send(());
    })
    .into_future();
    tokio::select! {
        result = serving => result,
        () = async {
            let _ = stopping_rx.await;
            tokio::time::sleep(grace).await;
        } => {
            tracing::warn!(grace_ms = grace.as_millis() as u64, "requests still in flight after the shutdown grace period; closing");
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;

    use application::testkit::Harness;
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use tower::ServiceExt;

    use crate::routes::router_with_shutdown_flag;
    use crate::HttpSettings;

    async fn readyz_status(shutting_down: bool) -> StatusCode {
        let router = router_with_shutdown_flag(
            Harness::new().services(),
            HttpSettings::default(),
            Arc::new(AtomicBool::new(shutting_down)),
        );
        let request = Request::get("/readyz").body(Body::empty()).unwrap();
        router.oneshot(request).await.unwrap().status()
    }

    #[tokio::test]
    async fn readyz_is_503_once_shutdown_begins_even_with_a_healthy_database() {
        assert_eq!(readyz_status(false).await, StatusCode::OK);
        assert_eq!(readyz_status(true).await, StatusCode::SERVICE_UNAVAILABLE);
    }
}
