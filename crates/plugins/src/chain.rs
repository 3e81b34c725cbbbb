//! A route's plugins compiled for the request path: per step, the plugins
//! that declared it, in the route's order, each with its include/exclude
//! patterns compiled. A step no plugin declared is an empty slice, so a
//! plugin a route does not use costs nothing.

use std::sync::{Arc, OnceLock};

use regex::Regex;
use serde_json::Value;

use crate::config::ConfigError;
use crate::context::{Flow, Plugin, RequestCtx, json_answer};
use crate::facts::RequestFacts;
use crate::registry::{self, Descriptor};
use crate::step::Step;
use crate::template::Reads;
use crate::{otoroshi_headers_in, send_otoroshi_headers_back, x_forwarded_headers};

/// A plugin instance as a route declares it.
pub struct Declared<'a> {
    pub plugin: &'a str,
    pub enabled: bool,
    pub include: &'a [String],
    pub exclude: &'a [String],
    pub config: &'a Value,
}

/// A plugin with where it applies.
#[derive(Clone)]
pub struct Instance {
    pub plugin: Arc<dyn Plugin>,
    include: Arc<[Regex]>,
    exclude: Arc<[Regex]>,
}

impl Instance {
    /// Whether its response step needs the request's method or path.
    fn reads_request(&self) -> bool {
        !self.include.is_empty() || !self.exclude.is_empty() || self.plugin.reads_request()
    }

    /// Otoroshi's rule: runs where `include` is empty or one pattern
    /// matches the whole path, and no `exclude` pattern does.
    pub fn applies(&self, path: &str) -> bool {
        (self.include.is_empty() || self.include.iter().any(|r| r.is_match(path)))
            && !self.exclude.iter().any(|r| r.is_match(path))
    }
}

#[derive(Clone, Default)]
pub struct Chain {
    pub pre_route: Box<[Instance]>,
    pub validate_access: Box<[Instance]>,
    pub transform_request: Box<[Instance]>,
    pub transform_response: Box<[Instance]>,
    /// What the response plugins' expressions read of the request; empty
    /// (nothing kept per request) for most routes.
    pub response_reads: Reads,
    pub transform_response_body: Box<[Instance]>,
    /// Whether a response or body plugin reads the request's method or
    /// path (its own include/exclude patterns count); when none does, the
    /// proxy keeps neither for the way back.
    pub response_reads_request: bool,
}

/// A problem with the `index`-th declared plugin; `path` is relative to the
/// instance (`config.max_age`, `include[0]`, `plugin`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainError {
    pub index: usize,
    pub path: String,
    pub message: String,
}

impl Chain {
    /// Compiles the enabled plugins; every problem is reported.
    pub fn compile<'a>(
        declared: impl IntoIterator<Item = Declared<'a>>,
    ) -> Result<Chain, Vec<ChainError>> {
        let mut steps: [Vec<Instance>; Step::ALL.len()] = Default::default();
        let mut errors = Vec::new();
        let mut lists_classic_headers = false;
        for (index, plugin) in declared.into_iter().enumerate() {
            lists_classic_headers |= CLASSIC_HEADERS.contains(&plugin.plugin);
            if !plugin.enabled {
                continue;
            }
            match compile_one(&plugin) {
                Ok((instance, declared_steps)) => {
                    for step in declared_steps {
                        if let Some(list) = Step::ALL
                            .iter()
                            .position(|s| s == step)
                            .and_then(|i| steps.get_mut(i))
                        {
                            list.push(instance.clone());
                        }
                    }
                }
                Err(problems) => errors.extend(problems.into_iter().map(|e| ChainError {
                    index,
                    path: e.path,
                    message: e.message,
                })),
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        if !lists_classic_headers {
            add_classic_headers(&mut steps);
        }
        let [
            pre_route,
            validate_access,
            transform_request,
            transform_response,
            transform_response_body,
        ] = steps.map(Vec::into_boxed_slice);
        let mut response_reads = Reads::default();
        for instance in transform_response.iter() {
            instance.plugin.response_reads(&mut response_reads);
        }
        let response_reads = response_reads.of_request();
        let response_reads_request = !transform_response_body.is_empty()
            || transform_response.iter().any(Instance::reads_request);
        Ok(Chain {
            pre_route,
            validate_access,
            transform_request,
            transform_response,
            response_reads,
            transform_response_body,
            response_reads_request,
        })
    }

    /// The request facts the response step will read, copied from the
    /// request once its steps are done; `None`, at no cost, when the
    /// route's response plugins read none.
    pub fn capture(&self, request: &RequestCtx<'_>) -> Option<RequestFacts> {
        (!self.response_reads.needs.is_empty())
            .then(|| RequestFacts::capture(request, &self.response_reads))
    }

    /// The chain of a route that declares no plugins (the classic header
    /// plugins only), compiled once and shared: most routes of a large
    /// deployment declare none, and each chain is several allocations.
    pub fn implicit() -> Arc<Chain> {
        static IMPLICIT: OnceLock<Arc<Chain>> = OnceLock::new();
        Arc::clone(
            IMPLICIT
                .get_or_init(|| Arc::new(Chain::compile(std::iter::empty()).unwrap_or_default())),
        )
    }

    /// A chain for a route whose plugins do not compile here (a plugin from
    /// a newer leader, say): every call is answered 503 rather than run
    /// without a plugin its author meant to protect it.
    pub fn unavailable(reason: String) -> Chain {
        Chain {
            pre_route: Box::new([Instance {
                plugin: Arc::new(Unavailable(reason)),
                include: Arc::new([]),
                exclude: Arc::new([]),
            }]),
            ..Chain::default()
        }
    }

    pub fn is_empty(&self) -> bool {
        self.pre_route.is_empty()
            && self.validate_access.is_empty()
            && self.transform_request.is_empty()
            && self.transform_response.is_empty()
            && self.transform_response_body.is_empty()
    }
}

fn compile_one(plugin: &Declared<'_>) -> Result<(Instance, &'static [Step]), Vec<ConfigError>> {
    let Some(descriptor) = registry::find(plugin.plugin) else {
        return Err(vec![ConfigError::new(
            "plugin",
            format!(
                "plugin '{}' is not implemented by komainu (supported: {}); remove it or set enabled to false",
                plugin.plugin,
                registry::ids().join(", ")
            ),
        )]);
    };
    let mut errors = Vec::new();
    let include = patterns("include", plugin.include, &mut errors);
    let exclude = patterns("exclude", plugin.exclude, &mut errors);
    let built = (descriptor.build)(plugin.config).map_err(|problems| {
        errors.extend(problems.into_iter().map(|e| ConfigError {
            path: if e.path.is_empty() {
                "config".to_string()
            } else {
                format!("config.{}", e.path)
            },
            message: e.message,
        }))
    });
    match built {
        Ok(plugin) if errors.is_empty() => Ok((
            Instance {
                plugin,
                include: include.into(),
                exclude: exclude.into(),
            },
            descriptor.steps,
        )),
        _ => Err(errors),
    }
}

/// The plugins that carry the headers every komainu route sent before
/// routes had plugins.
const CLASSIC_HEADERS: [&str; 3] = [
    x_forwarded_headers::DESCRIPTOR.id,
    otoroshi_headers_in::DESCRIPTOR.id,
    send_otoroshi_headers_back::DESCRIPTOR.id,
];

/// A route that lists none of [`CLASSIC_HEADERS`] (enabled or not) runs all
/// three, where komainu always applied them: the forwarding and Otoroshi
/// headers after the route's own request plugins, the response headers
/// before its response plugins (which may then remove them). Routes made
/// before plugins existed keep their behaviour; listing one of them, even
/// disabled, gives exactly the enabled ones listed, as in Otoroshi.
fn add_classic_headers(steps: &mut [Vec<Instance>; Step::ALL.len()]) {
    let implicit = |descriptor: &Descriptor| {
        (descriptor.build)(&Value::Null)
            .ok()
            .map(|plugin| Instance {
                plugin,
                include: Arc::new([]),
                exclude: Arc::new([]),
            })
    };
    let [_, _, transform_request, transform_response, _] = steps;
    transform_request.extend(
        [
            &x_forwarded_headers::DESCRIPTOR,
            &otoroshi_headers_in::DESCRIPTOR,
        ]
        .into_iter()
        .filter_map(implicit),
    );
    if let Some(instance) = implicit(&send_otoroshi_headers_back::DESCRIPTOR) {
        transform_response.insert(0, instance);
    }
}

/// Longest accepted pattern: a path pattern, not a program.
const MAX_PATTERN: usize = 1024;

pub(crate) fn patterns(
    field: &str,
    sources: &[String],
    errors: &mut Vec<ConfigError>,
) -> Vec<Regex> {
    sources
        .iter()
        .enumerate()
        .filter_map(|(i, source)| {
            let anchored = format!("^(?:{source})$");
            let built = if source.len() > MAX_PATTERN {
                Err(format!("a pattern is at most {MAX_PATTERN} bytes"))
            } else {
                regex::RegexBuilder::new(&anchored)
                    .size_limit(1 << 20)
                    .build()
                    .map_err(|e| format!("not a valid regular expression: {e}"))
            };
            built
                .map_err(|message| errors.push(ConfigError::new(format!("{field}[{i}]"), message)))
                .ok()
        })
        .collect()
}

struct Unavailable(String);

impl Plugin for Unavailable {
    fn pre_route(&self, _request: &mut RequestCtx<'_>) -> Flow {
        Flow::Answer(json_answer(
            http::StatusCode::SERVICE_UNAVAILABLE,
            "route_unavailable",
            &self.0,
        ))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::template::Needs;
    use serde_json::json;

    fn declared<'a>(
        plugin: &'a str,
        config: &'a Value,
        include: &'a [String],
        exclude: &'a [String],
    ) -> Declared<'a> {
        Declared {
            plugin,
            enabled: true,
            include,
            exclude,
            config,
        }
    }

    #[test]
    fn plugins_land_in_the_steps_they_declare_in_route_order() {
        let headers = json!({"headers": {"x-a": "1"}});
        let none = Value::Null;
        let chain = Chain::compile([
            declared(
                "cp:otoroshi.next.plugins.AdditionalHeadersIn",
                &headers,
                &[],
                &[],
            ),
            declared("cp:otoroshi.next.plugins.ReadOnlyCalls", &none, &[], &[]),
            declared(
                "cp:otoroshi.next.plugins.AdditionalHeadersOut",
                &headers,
                &[],
                &[],
            ),
            declared(
                "cp:otoroshi.next.plugins.XForwardedHeaders",
                &none,
                &[],
                &[],
            ),
        ])
        .unwrap();
        assert_eq!(chain.transform_request.len(), 2);
        assert_eq!(chain.validate_access.len(), 1);
        assert_eq!(chain.transform_response.len(), 1);
        assert!(chain.pre_route.is_empty());
    }

    #[test]
    fn routes_listing_no_classic_header_plugin_get_all_three() {
        let headers = json!({"headers": {"x-a": "1"}});
        let implicit = Chain::compile([declared(
            "cp:otoroshi.next.plugins.AdditionalHeadersOut",
            &headers,
            &[],
            &[],
        )])
        .unwrap();
        // XForwardedHeaders and OtoroshiHeadersIn; SendOtoroshiHeadersBack
        // first among the response plugins.
        assert_eq!(implicit.transform_request.len(), 2);
        assert_eq!(implicit.transform_response.len(), 2);
        let bare = Chain::compile([]).unwrap();
        assert_eq!(bare.transform_request.len(), 2);
        assert_eq!(bare.transform_response.len(), 1);
        // One listed, even disabled, turns the implicit ones off.
        let mut disabled = declared(
            "cp:otoroshi.next.plugins.SendOtoroshiHeadersBack",
            &Value::Null,
            &[],
            &[],
        );
        disabled.enabled = false;
        assert!(Chain::compile([disabled]).unwrap().is_empty());
    }

    #[test]
    fn include_and_exclude_match_whole_paths() {
        let none = Value::Null;
        let include = vec!["/api/.*".to_string()];
        let exclude = vec!["/api/public/.*".to_string()];
        let chain = Chain::compile([declared(
            "cp:otoroshi.next.plugins.ReadOnlyCalls",
            &none,
            &include,
            &exclude,
        )])
        .unwrap();
        let instance = &chain.validate_access[0];
        assert!(instance.applies("/api/x"));
        assert!(!instance.applies("/apix"));
        assert!(!instance.applies("/v1/api/x"));
        assert!(!instance.applies("/api/public/x"));
    }

    #[test]
    fn every_problem_is_named() {
        let bad = json!({"headers": {"bad name": "x"}});
        let include = vec!["(".to_string()];
        let errors = Chain::compile([
            declared("cp:otoroshi.next.plugins.Nope", &Value::Null, &[], &[]),
            declared(
                "cp:otoroshi.next.plugins.AdditionalHeadersIn",
                &bad,
                &include,
                &[],
            ),
        ])
        .err()
        .unwrap();
        let paths: Vec<(usize, &str)> = errors.iter().map(|e| (e.index, e.path.as_str())).collect();
        assert_eq!(
            paths,
            vec![
                (0, "plugin"),
                (1, "include[0]"),
                (1, "config.headers.bad name")
            ]
        );
    }

    #[test]
    fn only_response_expressions_that_read_the_request_keep_facts() {
        let out = |value: &str| json!({"headers": {"x-a": value}});
        let needs = |configs: &[(&str, Value)]| {
            Chain::compile(
                configs
                    .iter()
                    .map(|(name, config)| declared(name, config, &[], &[])),
            )
            .unwrap()
            .response_reads
        };
        let out_plugin = "cp:otoroshi.next.plugins.AdditionalHeadersOut";
        let missing_out = "cp:otoroshi.next.plugins.MissingHeadersOut";
        let in_plugin = "cp:otoroshi.next.plugins.AdditionalHeadersIn";
        assert_eq!(needs(&[(out_plugin, out("fixed"))]), Reads::default());
        assert_eq!(needs(&[(out_plugin, out("${date}"))]), Reads::default());
        assert_eq!(
            needs(&[(in_plugin, out("${req.headers.x}"))]),
            Reads::default()
        );
        let reads = needs(&[
            (out_plugin, out("${req.headers.x}${req.cookies.c}")),
            (missing_out, out("${apikey.name} ${req.headers.X}")),
        ]);
        assert_eq!(reads.needs, Needs::HEADERS | Needs::APIKEY);
        assert_eq!(reads.headers, ["x", "cookie"]);
    }
}
