//! The Prometheus text exposition format (version 0.0.4), written by hand: a handful of
//! gauges and counters do not justify a metrics framework.

use std::fmt::Write;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
}

#[derive(Debug)]
struct Family {
    name: String,
    help: String,
    kind: Kind,
    samples: Vec<(Vec<(String, String)>, f64)>,
}

/// Metric families in the order they were first added, each with its samples.
#[derive(Debug, Default)]
pub struct Exposition {
    families: Vec<Family>,
}

impl Exposition {
    /// Adds one sample; the family's help and type are those of its first sample.
    pub fn add(&mut self, kind: Kind, name: &str, help: &str, labels: &[(&str, &str)], v: f64) {
        let labels = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        match self.families.iter_mut().find(|f| f.name == name) {
            Some(f) => f.samples.push((labels, v)),
            None => self.families.push(Family {
                name: name.into(),
                help: help.into(),
                kind,
                samples: vec![(labels, v)],
            }),
        }
    }

    pub fn gauge(&mut self, name: &str, help: &str, labels: &[(&str, &str)], v: f64) {
        self.add(Kind::Gauge, name, help, labels, v);
    }

    pub fn is_empty(&self) -> bool {
        self.families.is_empty()
    }

    /// Names of the families, in order.
    pub fn names(&self) -> Vec<&str> {
        self.families.iter().map(|f| f.name.as_str()).collect()
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        for f in &self.families {
            let kind = match f.kind {
                Kind::Counter => "counter",
                Kind::Gauge => "gauge",
            };
            let _ = writeln!(out, "# HELP {} {}", f.name, escape_help(&f.help));
            let _ = writeln!(out, "# TYPE {} {kind}", f.name);
            for (labels, v) in &f.samples {
                out.push_str(&f.name);
                if !labels.is_empty() {
                    let inner: Vec<String> = labels
                        .iter()
                        .map(|(k, v)| format!("{k}=\"{}\"", escape_value(v)))
                        .collect();
                    let _ = write!(out, "{{{}}}", inner.join(","));
                }
                let _ = writeln!(out, " {}", number(*v));
            }
        }
        out
    }
}

fn escape_help(s: &str) -> String {
    s.replace('\\', "\\\\").replace('\n', "\\n")
}

fn escape_value(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        v.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_families_once_with_escaped_labels() {
        let mut e = Exposition::default();
        e.gauge("a_rows", "Rows.", &[("table", "x\"y")], 3.0);
        e.add(Kind::Counter, "b_total", "B.", &[], 1.5);
        e.gauge("a_rows", "ignored", &[("table", "z")], f64::NAN);
        assert_eq!(
            e.render(),
            "# HELP a_rows Rows.\n# TYPE a_rows gauge\na_rows{table=\"x\\\"y\"} 3\n\
             a_rows{table=\"z\"} NaN\n# HELP b_total B.\n# TYPE b_total counter\nb_total 1.5\n"
        );
        assert_eq!(e.names(), ["a_rows", "b_total"]);
    }
}
