//! Avro name checks without a regular expression.
//!
//! Every Iceberg manifest and manifest list is an Avro file that carries its schema, and
//! `apache-avro` checks each name in a schema it parses (record names, namespaces, field names,
//! enum symbols) against the specification's patterns with `regex-lite`, a backtracking-free
//! matcher that is small rather than fast. A run opens a manifest list and manifests for every
//! table it reads, so these checks were 2–3 % of a day run's CPU samples (`perf`: the matcher's
//! `PikeVM`). The crate lets a program install its own validators once, before the first
//! schema is parsed; [`install`] does, with hand-written checks that accept exactly what the
//! patterns accept and split a full name the same way (the unit tests compare them with the
//! crate's own patterns on every string of up to five characters from a mixed alphabet).

use apache_avro::AvroResult;
use apache_avro::error::Details;
use apache_avro::schema::Namespace;
use apache_avro::validator::{
    EnumSymbolNameValidator, RecordFieldNameValidator, SchemaNameValidator,
    SchemaNamespaceValidator, set_enum_symbol_name_validator, set_record_field_name_validator,
    set_schema_name_validator, set_schema_namespace_validator,
};

/// The specification's name rules, checked by hand.
struct SpecificationNames;

/// `[A-Za-z_][A-Za-z0-9_]*`: a name without dots.
fn is_simple_name(s: &str) -> bool {
    let mut bytes = s.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// `(name(\.name)*)?`: a namespace, possibly empty.
fn is_namespace(s: &str) -> bool {
    s.is_empty() || s.split('.').all(is_simple_name)
}

impl SchemaNameValidator for SpecificationNames {
    /// A full name is `[namespace.]name`: the part after the last dot is the name, and what
    /// comes before that dot (possibly nothing) is the namespace. Without a dot there is no
    /// namespace.
    fn validate(&self, schema_name: &str) -> AvroResult<(String, Namespace)> {
        let (namespace, name) = match schema_name.rsplit_once('.') {
            Some((namespace, name)) => (Some(namespace), name),
            None => (None, schema_name),
        };
        if is_simple_name(name) && namespace.is_none_or(is_namespace) {
            Ok((name.to_string(), namespace.map(str::to_string)))
        } else {
            let pattern = SchemaNameValidator::regex(self).as_str();
            Err(Details::InvalidSchemaName(schema_name.to_string(), pattern).into())
        }
    }
}

impl SchemaNamespaceValidator for SpecificationNames {
    fn validate(&self, namespace: &str) -> AvroResult<()> {
        if is_namespace(namespace) {
            Ok(())
        } else {
            let pattern = SchemaNamespaceValidator::regex(self).as_str();
            Err(Details::InvalidNamespace(namespace.to_string(), pattern).into())
        }
    }
}

/// Accepts a name without dots, or refuses it with the error `refused` makes of it.
fn simple_name(name: &str, refused: fn(String) -> Details) -> AvroResult<()> {
    if is_simple_name(name) {
        Ok(())
    } else {
        Err(refused(name.to_string()).into())
    }
}

impl EnumSymbolNameValidator for SpecificationNames {
    fn validate(&self, symbol: &str) -> AvroResult<()> {
        simple_name(symbol, Details::EnumSymbolName)
    }
}

impl RecordFieldNameValidator for SpecificationNames {
    fn validate(&self, field_name: &str) -> AvroResult<()> {
        simple_name(field_name, Details::FieldName)
    }
}

/// Installs the hand-written checks for this process. Call it before any Avro schema is
/// parsed; once one has been, the crate's own checks stay (each registration is once only),
/// which is slower but the same.
pub fn install() {
    let _ = set_schema_name_validator(Box::new(SpecificationNames));
    let _ = set_schema_namespace_validator(Box::new(SpecificationNames));
    let _ = set_enum_symbol_name_validator(Box::new(SpecificationNames));
    let _ = set_record_field_name_validator(Box::new(SpecificationNames));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every string of up to `len` characters over an alphabet with letters, digits, the
    /// underscore, dots and characters the patterns refuse (a dash, a space, a non-ASCII
    /// letter and a newline, which `$` must not match before).
    fn strings(len: usize) -> Vec<String> {
        let alphabet = ['a', 'Z', '_', '0', '9', '.', '-', ' ', 'é', '\n'];
        let mut all = vec![String::new()];
        let mut last = vec![String::new()];
        for _ in 0..len {
            let next: Vec<String> = last
                .iter()
                .flat_map(|s| {
                    alphabet.iter().map(move |c| {
                        let mut t = s.clone();
                        t.push(*c);
                        t
                    })
                })
                .collect();
            all.extend(next.iter().cloned());
            last = next;
        }
        all
    }

    #[test]
    fn names_are_split_and_refused_as_the_crates_patterns_do() {
        let names = SpecificationNames;
        let full_name = SchemaNameValidator::regex(&names);
        let namespace = SchemaNamespaceValidator::regex(&names);
        let simple = RecordFieldNameValidator::regex(&names);
        let all = strings(5);
        assert!(all.len() > 100_000);
        for s in &all {
            let theirs = full_name.captures(s).map(|c| {
                (
                    c["name"].to_string(),
                    c.name("namespace").map(|m| m.as_str().to_string()),
                )
            });
            let ours = SchemaNameValidator::validate(&names, s).ok();
            assert_eq!(ours, theirs, "full name {s:?}");
            assert_eq!(
                SchemaNamespaceValidator::validate(&names, s).is_ok(),
                namespace.is_match(s),
                "namespace {s:?}"
            );
            assert_eq!(
                RecordFieldNameValidator::validate(&names, s).is_ok(),
                simple.is_match(s),
                "field name {s:?}"
            );
            assert_eq!(
                EnumSymbolNameValidator::validate(&names, s).is_ok(),
                simple.is_match(s),
                "enum symbol {s:?}"
            );
        }
    }

    #[test]
    fn a_refused_name_is_reported_with_the_pattern() {
        let err = SchemaNameValidator::validate(&SpecificationNames, "a-b").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("a-b"), "{text}");
        assert!(text.contains("[A-Za-z_]"), "{text}");
        assert_eq!(
            SchemaNameValidator::validate(&SpecificationNames, "a.b.c").unwrap(),
            ("c".to_string(), Some("a.b".to_string()))
        );
        assert_eq!(
            SchemaNameValidator::validate(&SpecificationNames, ".c").unwrap(),
            ("c".to_string(), Some(String::new()))
        );
    }
}
