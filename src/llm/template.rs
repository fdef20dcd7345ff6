//! Chat prompts: the GGUF's `tokenizer.chat_template` rendered with minijinja (the Jinja subset
//! Hugging Face templates use, plus Python string methods), or ChatML when a model has none.

use minijinja::{context, Environment, ErrorKind};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Who said a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Instructions.
    System,
    /// The person.
    User,
    /// The model.
    Assistant,
}

/// One chat message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// Who said it.
    pub role: Role,
    /// What was said.
    pub content: String,
}

impl Message {
    /// A system message.
    pub fn system(content: impl Into<String>) -> Self {
        Self {
            role: Role::System,
            content: content.into(),
        }
    }
    /// A user message.
    pub fn user(content: impl Into<String>) -> Self {
        Self {
            role: Role::User,
            content: content.into(),
        }
    }
    /// An assistant message.
    pub fn assistant(content: impl Into<String>) -> Self {
        Self {
            role: Role::Assistant,
            content: content.into(),
        }
    }
}

/// ChatML, used when a model carries no template (base models).
pub const FALLBACK_TEMPLATE: &str = "{% for message in messages %}<|im_start|>{{ message.role }}\n\
{{ message.content }}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";

/// A compiled chat template.
pub struct ChatTemplate {
    env: Environment<'static>,
    /// True when the model had no template of its own.
    pub is_fallback: bool,
    bos_token: String,
    eos_token: String,
}

impl std::fmt::Debug for ChatTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatTemplate")
            .field("is_fallback", &self.is_fallback)
            .finish()
    }
}

fn raise_exception(msg: String) -> std::result::Result<String, minijinja::Error> {
    Err(minijinja::Error::new(ErrorKind::InvalidOperation, msg))
}

impl ChatTemplate {
    /// Compile `source` (or the fallback when `None`, which starts with the BOS token when
    /// `fallback_bos` — models whose tokenizer expects one).
    pub fn new(
        source: Option<&str>,
        bos_token: &str,
        eos_token: &str,
        fallback_bos: bool,
    ) -> Result<Self> {
        let mut env = Environment::new();
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function("raise_exception", raise_exception);
        let is_fallback = source.is_none();
        let source = match source {
            Some(s) => s.to_string(),
            None if fallback_bos => format!("{{{{ bos_token }}}}{FALLBACK_TEMPLATE}"),
            None => FALLBACK_TEMPLATE.to_string(),
        };
        env.add_template_owned("chat", source)
            .map_err(|e| Error::ModelInvalid {
                name: "chat template".into(),
                reason: format!("cannot compile the GGUF's chat template: {e}"),
            })?;
        Ok(Self {
            env,
            is_fallback,
            bos_token: bos_token.into(),
            eos_token: eos_token.into(),
        })
    }

    /// Render `messages` as a prompt ending where the assistant's reply begins.
    pub fn render(&self, messages: &[Message]) -> Result<String> {
        let tmpl = self
            .env
            .get_template("chat")
            .map_err(|e| Error::Internal(e.to_string()))?;
        tmpl.render(context! {
            messages => messages,
            add_generation_prompt => true,
            bos_token => self.bos_token,
            eos_token => self.eos_token,
        })
        .map_err(|e| Error::Generation(format!("chat template: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fallback_is_chatml() {
        let t = ChatTemplate::new(None, "", "", false).unwrap();
        let out = t
            .render(&[Message::system("Be brief."), Message::user("Hi")])
            .unwrap();
        assert_eq!(
            out,
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
        );
    }

    #[test]
    fn python_methods_and_exceptions_work() {
        let src = "{% if messages[0].role != 'user' %}{{ raise_exception('first must be user') }}{% endif %}\
                   {{ bos_token }}{{ messages[0].content.strip() }}";
        let t = ChatTemplate::new(Some(src), "<s>", "</s>", false).unwrap();
        assert_eq!(t.render(&[Message::user("  hi  ")]).unwrap(), "<s>hi");
        let err = t.render(&[Message::assistant("x")]).unwrap_err();
        assert!(err.to_string().contains("first must be user"), "{err}");
    }
}
