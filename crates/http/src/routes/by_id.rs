//! The routes under `/streams/{id}`, matched without a regex.
//!
//! actix matches a pattern with a `{id}` segment by regex (regex-lite's PikeVM, with
//! captures): 11 % of the CPU of a `GET /streams/:id` went there (perf, 2026-11-26). Mounted
//! as the default service of the static `/streams` scope, [`ById`] splits the rest of the path
//! itself: the id up to the next `/`, then the suffix compared as plain text. The id goes in
//! the match info (so `web::Path` reads it as before) and the route's pattern in
//! [`RouteLabel`], so the access log and the HTTP metrics name the route as actix would.
//!
//! A suffix no sub-route has is answered by the app's 404, a method a sub-route lacks by its
//! 405, and a sub-route may sit behind a middleware (the `Idempotency-Key` one) as a whole,
//! as an actix resource would.

use std::rc::Rc;

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceFactory, ServiceRequest, ServiceResponse, Transform};
use actix_web::http::Method;
use actix_web::middleware::from_fn;
use actix_web::{web, Error, HttpMessage, Route};
use futures_util::future::LocalBoxFuture;

use crate::request_tracing::RouteLabel;

type Answer = LocalBoxFuture<'static, Result<ServiceResponse, Error>>;
type Built<T> = LocalBoxFuture<'static, Result<T, ()>>;
type Handler =
    Rc<dyn Service<ServiceRequest, Response = ServiceResponse, Error = Error, Future = Answer>>;

/// A service whose answers are boxed to one type (a route's already are: no second box).
struct Erased<S>(S);

impl<S, B> Service<ServiceRequest> for Erased<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error>,
    S::Future: 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse;
    type Error = Error;
    type Future = Answer;

    actix_web::dev::always_ready!();

    fn call(&self, req: ServiceRequest) -> Answer {
        let answer = self.0.call(req);
        Box::pin(async move { answer.await.map(ServiceResponse::map_into_boxed_body) })
    }
}

fn erased<S, B>(service: S) -> Handler
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    S::Future: 'static,
    B: MessageBody + 'static,
{
    Rc::new(Erased(service))
}

/// One path under `/streams/{id}`: its methods, and the answer to any other method.
pub(crate) struct SubRoute {
    suffix: &'static str,
    label: &'static str,
    methods: Vec<(Method, Route)>,
    idempotent: bool,
}

impl SubRoute {
    /// The sub-route at `suffix` (`""`, `"/join"`, …), named `label` in logs and metrics.
    pub(crate) fn new(suffix: &'static str, label: &'static str) -> Self {
        Self {
            suffix,
            label,
            methods: Vec::new(),
            idempotent: false,
        }
    }

    /// Answers `method` with `route` (built with `web::to`: the method is matched here).
    pub(crate) fn method(mut self, method: Method, route: Route) -> Self {
        self.methods.push((method, route));
        self
    }

    /// Puts the sub-route's mutations behind the `Idempotency-Key` middleware.
    pub(crate) fn idempotent(mut self) -> Self {
        self.idempotent = true;
        self
    }

    fn build(&self) -> Built<(&'static str, &'static str, Handler)> {
        let (suffix, label, idempotent) = (self.suffix, self.label, self.idempotent);
        let routes: Vec<_> = self
            .methods
            .iter()
            .map(|(method, route)| (method.clone(), route.new_service(())))
            .collect();
        let supported: Vec<Method> = self.methods.iter().map(|(m, _)| m.clone()).collect();
        let not_allowed = crate::allow::not_allowed(&supported).new_service(());
        Box::pin(async move {
            let mut methods = Vec::with_capacity(routes.len());
            for (method, route) in routes {
                let route: Handler = Rc::new(route.await?);
                // Only the mutations go behind the `Idempotency-Key` middleware: it would let
                // reads by anyway, after boxing its (large) future for each of them.
                let handler = if idempotent && crate::idempotency::is_mutation(&method) {
                    erased(
                        from_fn(crate::idempotency::middleware)
                            .new_transform(route)
                            .await?,
                    )
                } else {
                    route
                };
                methods.push((method, handler));
            }
            let methods = Methods {
                methods,
                not_allowed: Rc::new(not_allowed.await?),
            };
            Ok((suffix, label, Rc::new(methods) as Handler))
        })
    }
}

/// A sub-route's methods.
struct Methods {
    methods: Vec<(Method, Handler)>,
    not_allowed: Handler,
}

impl Service<ServiceRequest> for Methods {
    type Response = ServiceResponse;
    type Error = Error;
    type Future = Answer;

    actix_web::dev::always_ready!();

    fn call(&self, req: ServiceRequest) -> Answer {
        let handler = self
            .methods
            .iter()
            .find(|(method, _)| method == req.method())
            .map_or(&self.not_allowed, |(_, handler)| handler);
        handler.call(req)
    }
}

/// The sub-routes of `/streams/{id}`, as the default service of the `/streams` scope.
pub(crate) struct ById {
    routes: Rc<Vec<SubRoute>>,
}

impl ById {
    pub(crate) fn new(routes: Vec<SubRoute>) -> Self {
        Self {
            routes: Rc::new(routes),
        }
    }

    /// Names every sub-route in actix's route table (as an external resource, by its
    /// pattern), so the table lists what is served and `url_for` knows it; routing never
    /// looks there.
    pub(crate) fn name_routes(&self, cfg: &mut web::ServiceConfig) {
        for route in self.routes.iter() {
            cfg.external_resource(route.label, route.label);
        }
    }
}

impl ServiceFactory<ServiceRequest> for ById {
    type Response = ServiceResponse;
    type Error = Error;
    type Config = ();
    type Service = ByIdService;
    type InitError = ();
    type Future = Built<ByIdService>;

    fn new_service(&self, (): ()) -> Self::Future {
        let builds: Vec<_> = self.routes.iter().map(SubRoute::build).collect();
        let not_found = web::to(crate::not_found).new_service(());
        Box::pin(async move {
            let mut routes = Vec::with_capacity(builds.len());
            for build in builds {
                routes.push(build.await?);
            }
            Ok(ByIdService {
                routes,
                not_found: Rc::new(not_found.await?),
            })
        })
    }
}

pub(crate) struct ByIdService {
    routes: Vec<(&'static str, &'static str, Handler)>,
    not_found: Handler,
}

impl Service<ServiceRequest> for ByIdService {
    type Response = ServiceResponse;
    type Error = Error;
    type Future = Answer;

    actix_web::dev::always_ready!();

    fn call(&self, mut req: ServiceRequest) -> Answer {
        let Some((id, suffix)) = split(req.match_info().unprocessed()) else {
            return self.not_found.call(req);
        };
        let Some((label, handler, output)) =
            self.routes.iter().find_map(|(pattern, label, handler)| {
                matched(pattern, suffix).map(|output| (*label, handler, output.map(str::to_owned)))
            })
        else {
            return self.not_found.call(req);
        };
        let id = id.to_owned();
        req.match_info_mut().add_static("id", id);
        if let Some(output) = output {
            req.match_info_mut().add_static("output", output);
        }
        req.extensions_mut().insert(RouteLabel(label));
        handler.call(req)
    }
}

/// Whether `suffix` is what `pattern` describes: the same text, where a `{output}` segment of
/// the pattern matches one non-empty segment (returned). `None`: no match.
fn matched<'a>(pattern: &str, suffix: &'a str) -> Option<Option<&'a str>> {
    let Some((before, after)) = pattern.split_once("{output}") else {
        return (pattern == suffix).then_some(None);
    };
    let rest = suffix.strip_prefix(before)?;
    let end = rest.find('/').unwrap_or(rest.len());
    let (segment, tail) = rest.split_at(end);
    (!segment.is_empty() && tail == after).then_some(Some(segment))
}

/// `"/<id><suffix>"` → `(id, suffix)`, where the id is one non-empty segment.
fn split(rest: &str) -> Option<(&str, &str)> {
    let rest = rest.strip_prefix('/')?;
    let (id, suffix) = rest.find('/').map_or((rest, ""), |at| rest.split_at(at));
    (!id.is_empty()).then_some((id, suffix))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_id_is_the_first_segment_and_the_suffix_the_rest() {
        assert_eq!(split("/abc"), Some(("abc", "")));
        assert_eq!(split("/abc/join"), Some(("abc", "/join")));
        assert_eq!(split("/abc/"), Some(("abc", "/")));
        assert_eq!(split("/abc/a/b"), Some(("abc", "/a/b")));
    }

    #[test]
    fn an_output_segment_matches_one_non_empty_segment() {
        assert_eq!(
            matched("/outputs/{output}", "/outputs/hls"),
            Some(Some("hls"))
        );
        assert_eq!(
            matched("/outputs/{output}/start", "/outputs/yt/start"),
            Some(Some("yt"))
        );
        assert_eq!(matched("/outputs/{output}", "/outputs/"), None);
        assert_eq!(matched("/outputs/{output}", "/outputs/a/b"), None);
        assert_eq!(matched("/outputs/{output}/start", "/outputs/a/stop"), None);
        assert_eq!(matched("/outputs", "/outputs"), Some(None));
        assert_eq!(matched("/join", "/joined"), None);
    }

    #[test]
    fn an_empty_id_or_no_slash_matches_nothing() {
        assert_eq!(split(""), None);
        assert_eq!(split("/"), None);
        assert_eq!(split("//join"), None);
        assert_eq!(split("abc"), None);
    }
}
