//! Errors as the UI sees them: `{ code, message }` with the engine's stable codes.

use serde::Serialize;

/// An error for the UI. `code` is stable (the engine's `Error::code()`, or one of the shell's
/// own: `io`, `internal`, `not_found`); `message` is one line for a person.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ErrorDto {
    /// Stable machine-readable code.
    pub code: String,
    /// Human-readable, one line.
    pub message: String,
}

impl ErrorDto {
    /// An error with a shell-side code.
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        ErrorDto {
            code: code.into(),
            message: message.into(),
        }
    }
}

impl From<hearth::Error> for ErrorDto {
    fn from(e: hearth::Error) -> Self {
        let message = match &e {
            hearth::Error::ModelMissing { .. } => format!(
                "{e}. Download the models here (Models, or the button below), or run \
                 `hearth models fetch`."
            ),
            _ => e.to_string(),
        };
        ErrorDto {
            code: e.code().into(),
            message,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_errors_keep_their_stable_codes() {
        let e: ErrorDto = hearth::Error::InvalidRequest("the query is empty".into()).into();
        assert_eq!(e.code, "invalid_request");
        assert_eq!(e.message, "invalid request: the query is empty");
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(json["code"], "invalid_request");
        let missing: ErrorDto = hearth::Error::ModelMissing {
            path: "/m/model.onnx".into(),
            hint: "not installed".into(),
        }
        .into();
        assert_eq!(missing.code, "model_missing");
        assert!(missing.message.contains("hearth models fetch"));
        assert!(missing.message.contains("Download"));
    }
}
