"""Hearth's HTTP API driven by the official `openai` Python client, unmodified.

Run by tests/api/run.sh against a real `hearth serve` over tests/data/corpus (real models,
real LanceDB). HEARTH_API_BASE and HEARTH_API_TOKEN say where and how.
"""

import os
import unittest

import openai

BASE = os.environ["HEARTH_API_BASE"]
TOKEN = os.environ["HEARTH_API_TOKEN"]
HERON = "When do the heron eggs hatch?"


def client(key=TOKEN):
    return openai.OpenAI(base_url=BASE, api_key=key, max_retries=0, timeout=600)


def extra(obj, name):
    """A field Hearth adds to OpenAI's shapes (pydantic keeps unknown fields)."""
    return (obj.model_extra or {}).get(name)


class OpenAIClient(unittest.TestCase):
    def test_models_list_the_library_and_the_embedder(self):
        ids = [m.id for m in client().models.list()]
        self.assertIn("hearth", ids)
        self.assertGreaterEqual(len(ids), 2, ids)

    def test_chat_answers_with_citations_and_streams_the_same(self):
        c = client()
        messages = [{"role": "user", "content": HERON}]
        done = c.chat.completions.create(model="hearth", messages=messages, max_tokens=64)
        text = done.choices[0].message.content
        self.assertTrue(text.strip())
        self.assertEqual(done.choices[0].finish_reason, "stop")
        citations = extra(done, "citations")
        self.assertTrue(citations, done)
        self.assertTrue(any(x["path"].endswith("field-guide.pdf") for x in citations), citations)
        for x in citations:
            self.assertIn(f"[{x['n']}]", text)
        self.assertGreater(done.usage.completion_tokens, 0)

        pieces, last = [], None
        with c.chat.completions.create(
            model="hearth", messages=messages, max_tokens=64, stream=True
        ) as stream:
            for chunk in stream:
                last = chunk
                if chunk.choices and chunk.choices[0].delta.content:
                    pieces.append(chunk.choices[0].delta.content)
        self.assertEqual("".join(pieces).strip(), text.strip())
        self.assertEqual(last.choices[0].finish_reason, "stop")
        self.assertEqual(
            [x["n"] for x in extra(last, "citations")], [x["n"] for x in citations]
        )

    def test_a_conversation_follows_up(self):
        reply = client().chat.completions.create(
            model="hearth",
            messages=[
                {"role": "user", "content": HERON},
                {"role": "assistant", "content": "They hatch after about 25 to 29 days [1]."},
                {"role": "user", "content": "How many eggs are laid?"},
            ],
            max_tokens=64,
        )
        self.assertTrue(extra(reply, "citations"), reply)

    def test_max_tokens_cuts_the_answer(self):
        reply = client().chat.completions.create(
            model="hearth",
            messages=[{"role": "user", "content": HERON}],
            max_tokens=3,
            temperature=0.7,
        )
        self.assertEqual(reply.choices[0].finish_reason, "length")
        self.assertLessEqual(reply.usage.completion_tokens, 3)

    def test_embeddings_in_both_encodings(self):
        c = client()
        # the client asks for base64 unless told otherwise, and decodes it
        default = c.embeddings.create(model="hearth", input=["heron eggs", "tax forms"])
        self.assertEqual(len(default.data), 2)
        floats = c.embeddings.create(
            model="hearth", input=["heron eggs", "tax forms"], encoding_format="float"
        )
        a, b = default.data[0].embedding, floats.data[0].embedding
        self.assertEqual(len(a), len(b))
        self.assertGreater(len(a), 100)
        self.assertLess(max(abs(x - y) for x, y in zip(a, b)), 1e-6)
        self.assertGreater(default.usage.prompt_tokens, 0)

    def test_errors_are_the_clients_own_exceptions(self):
        with self.assertRaises(openai.AuthenticationError):
            client("wrong-token").models.list()
        with self.assertRaises(openai.NotFoundError) as e:
            client().chat.completions.create(
                model="gpt-4o", messages=[{"role": "user", "content": HERON}]
            )
        self.assertEqual(e.exception.code, "model_not_found")
        with self.assertRaises(openai.BadRequestError):
            client().chat.completions.create(model="hearth", messages=[])


if __name__ == "__main__":
    unittest.main(verbosity=2)
