//! A secret's data → the `auth` entries kubelet gets.
//!
//! Two shapes are common in Vault for registry credentials: a user name and a password field
//! (what `bao kv put secret/registry username=... password=...` writes), and a whole Docker
//! config stored as one field (the `.dockerconfigjson` of a `kubernetes.io/dockerconfigjson`
//! Secret, kept in Vault for External Secrets). The second is parsed by the `file` backend's
//! parser and its entries are matched against the image with kubelet's rules, exactly as a
//! node's Docker config file would be, so moving a config from a node into Vault changes
//! nothing about which entry a pull gets. Messages name fields and keys, never values.
// The network half: used by the fetch, which builds without the `vault` feature do not have.
#![cfg_attr(not(feature = "vault"), allow(dead_code))]

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Map, Value};

use super::config::Fields;
use crate::backend::file::{find_matches, DockerConfig};
use crate::image::ImageRef;
use crate::protocol::AuthConfig;
use crate::secret::Secret;

/// The entries to serve and one phrase on which fields gave them (for `check`; no values).
#[derive(Debug)]
pub struct Extracted {
    /// Auth key → credentials.
    pub auth: BTreeMap<String, AuthConfig>,
    /// Which fields (and Docker config entries) were used.
    pub used: String,
}

/// The credentials `fields` names in `data`, the secret read at `path`, for `image`.
pub fn extract(
    data: &Secret<Map<String, Value>>,
    fields: &Fields,
    image: &ImageRef,
    path: &str,
) -> Result<Extracted, String> {
    let data = data.expose();
    match fields {
        Fields::UserPassword { username, password } => {
            let user = string_field(data, username, path)?;
            let pass = string_field(data, password, path)?;
            let mut auth = BTreeMap::new();
            auth.insert(
                image.registry().to_string(),
                AuthConfig {
                    username: user.to_string(),
                    password: Secret::new(pass.to_string()),
                },
            );
            Ok(Extracted {
                auth,
                used: format!("fields {username:?} and {password:?}"),
            })
        }
        Fields::DockerConfigJson(field) => {
            let text = match data.get(field) {
                Some(Value::String(text)) => text.clone(),
                // Written through the API as a JSON object rather than a string.
                Some(object @ Value::Object(_)) => object.to_string(),
                Some(_) => {
                    return Err(format!(
                        "field {field:?} of {path} is neither a string nor an object"
                    ))
                }
                None => return Err(missing(data, field, path)),
            };
            let label = format!("{path} field {field}");
            let config = DockerConfig::parse(Path::new(&label), &text)
                .map_err(|m| format!("the Docker config in field {field:?} of {path}: {m}"))?;
            let matches = find_matches(std::slice::from_ref(&config), image);
            if matches.is_empty() {
                let keys: Vec<&str> = config.entries.iter().map(|e| e.raw_key.as_str()).collect();
                return Err(format!(
                    "the Docker config in field {field:?} of {path} has no entry matching {} \
                     (entries: {})",
                    image.name(),
                    if keys.is_empty() {
                        "none".to_string()
                    } else {
                        keys.join(", ")
                    }
                ));
            }
            let used = format!(
                "field {field:?}, entries {}",
                matches
                    .iter()
                    .map(|m| format!("{:?}", m.raw_key))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            let auth = matches.into_iter().map(|m| (m.key, m.auth)).collect();
            Ok(Extracted { auth, used })
        }
    }
}

fn string_field<'a>(
    data: &'a Map<String, Value>,
    field: &str,
    path: &str,
) -> Result<&'a str, String> {
    match data.get(field) {
        Some(Value::String(value)) => Ok(value),
        Some(_) => Err(format!("field {field:?} of {path} is not a string")),
        None => Err(missing(data, field, path)),
    }
}

/// "no field X" with the names (never the values) of the fields there are.
fn missing(data: &Map<String, Value>, field: &str, path: &str) -> String {
    let names: Vec<&str> = data.keys().map(String::as_str).collect();
    format!(
        "{path} has no field {field:?} (its fields: {})",
        if names.is_empty() {
            "none".to_string()
        } else {
            names.join(", ")
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn data(value: Value) -> Secret<Map<String, Value>> {
        match value {
            Value::Object(map) => Secret::new(map),
            _ => unreachable!("test data is an object"),
        }
    }

    fn image(name: &str) -> ImageRef {
        ImageRef::parse(name).unwrap()
    }

    fn user_password() -> Fields {
        Fields::UserPassword {
            username: "username".into(),
            password: "password".into(),
        }
    }

    #[test]
    fn user_and_password_fields_are_served_under_the_registry() {
        let got = extract(
            &data(json!({"username": "robot$pull", "password": "pw-1", "note": "x"})),
            &user_password(),
            &image("harbor.example:8443/team/app"),
            "secret/data/harbor",
        )
        .unwrap();
        assert_eq!(got.used, "fields \"username\" and \"password\"");
        let (key, auth) = got.auth.iter().next().unwrap();
        assert_eq!(key, "harbor.example:8443");
        assert_eq!(auth.username, "robot$pull");
        assert_eq!(auth.password.expose(), "pw-1");
    }

    #[test]
    fn missing_or_non_string_fields_are_named_without_values() {
        let secret = data(json!({"user": "u", "password": 12345678, "token": "s3cr3t-value"}));
        let e = extract(
            &secret,
            &user_password(),
            &image("r.example/a"),
            "kv/data/r",
        )
        .unwrap_err();
        assert_eq!(
            e,
            "kv/data/r has no field \"username\" (its fields: password, token, user)"
        );
        let fields = Fields::UserPassword {
            username: "user".into(),
            password: "password".into(),
        };
        let e = extract(&secret, &fields, &image("r.example/a"), "kv/data/r").unwrap_err();
        assert_eq!(e, "field \"password\" of kv/data/r is not a string");
        assert!(!e.contains("s3cr3t"));
    }

    #[test]
    fn docker_config_entries_are_chosen_as_kubelet_matches_them() {
        let config = json!({"auths": {
            "reg.example": {"username": "all", "password": "p-all"},
            "reg.example/team-b": {"username": "b", "password": "p-b"},
            "reg.example:5000": {"username": "port", "password": "p-port"},
            "https://other.example/v1/": {"auth": "b3RoZXI6cC1vdGhlcg=="}
        }})
        .to_string();
        let secret = data(json!({ ".dockerconfigjson": config }));
        let fields = Fields::DockerConfigJson(".dockerconfigjson".into());

        let got = extract(
            &secret,
            &fields,
            &image("reg.example/team-b/app"),
            "s/data/d",
        )
        .unwrap();
        let keys: Vec<&String> = got.auth.keys().collect();
        assert_eq!(keys, ["reg.example", "reg.example/team-b"]);
        assert_eq!(got.auth["reg.example/team-b"].username, "b");

        // Ports must be equal; the legacy URL key is normalised to its host.
        let got = extract(&secret, &fields, &image("reg.example:5000/a"), "s/data/d").unwrap();
        assert_eq!(got.auth.keys().collect::<Vec<_>>(), ["reg.example:5000"]);
        assert_eq!(
            got.used,
            "field \".dockerconfigjson\", entries \"reg.example:5000\""
        );
        let got = extract(&secret, &fields, &image("other.example/x"), "s/data/d").unwrap();
        assert_eq!(got.auth["other.example"].password.expose(), "p-other");

        let e = extract(&secret, &fields, &image("elsewhere.example/a"), "s/data/d").unwrap_err();
        assert!(e.starts_with("the Docker config in field \".dockerconfigjson\" of s/data/d has no entry matching elsewhere.example/a (entries: "), "{e}");
        assert!(!e.contains("p-all"), "{e}");
    }

    #[test]
    fn a_docker_config_stored_as_an_object_or_broken_is_handled() {
        let fields = Fields::DockerConfigJson("cfg".into());
        let secret =
            data(json!({"cfg": {"auths": {"r.example": {"username": "u", "password": "p"}}}}));
        assert!(extract(&secret, &fields, &image("r.example/a"), "s").is_ok());
        let broken = data(json!({"cfg": "{\"auths\": 1}"}));
        let e = extract(&broken, &fields, &image("r.example/a"), "s").unwrap_err();
        assert_eq!(
            e,
            "the Docker config in field \"cfg\" of s: \"auths\" must be an object"
        );
        let e = extract(&data(json!({})), &fields, &image("r.example/a"), "s").unwrap_err();
        assert_eq!(e, "s has no field \"cfg\" (its fields: none)");
    }
}
