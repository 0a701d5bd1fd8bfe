// The official OpenAI client library against InferGate: list models, a chat completion, a
// streamed chat completion with usage, and an error. Run by gateway_openai_client_test with
// INFERGATE_BASE_URL pointing at a gateway in front of simulated model servers.
import OpenAI from "openai";

const client = new OpenAI({ baseURL: process.env.INFERGATE_BASE_URL, apiKey: "unused", maxRetries: 0 });
let passed = 0;
let failed = 0;
async function check(name, fn) {
  try {
    await fn();
    passed++;
    console.log(`ok - ${name}`);
  } catch (e) {
    failed++;
    console.log(`not ok - ${name}: ${e.stack || e}`);
  }
}
function assert(cond, message) {
  if (!cond) throw new Error(message);
}

await check("models.list", async () => {
  const ids = [];
  for await (const model of client.models.list()) ids.push(model.id);
  assert(ids.includes("food-review"), `food-review missing from ${ids}`);
});

await check("chat.completions.create", async () => {
  const res = await client.chat.completions.create({
    model: "food-review",
    messages: [{ role: "user", content: "Say hello" }],
    max_tokens: 6,
  });
  assert(res.model === "food-review", `model ${res.model}`);
  assert(res.choices[0].message.role === "assistant", "role");
  assert(res.choices[0].message.content.length > 0, "content");
  assert(res.usage.completion_tokens <= 6 && res.usage.completion_tokens > 0, "usage");
});

await check("chat.completions.create stream", async () => {
  const stream = await client.chat.completions.create({
    model: "food-review",
    messages: [{ role: "user", content: "Stream please" }],
    max_tokens: 8,
    stream: true,
    stream_options: { include_usage: true },
  });
  let text = "";
  let usage = null;
  let chunks = 0;
  for await (const chunk of stream) {
    chunks++;
    assert(chunk.model === "food-review", `chunk model ${chunk.model}`);
    if (chunk.choices.length > 0) text += chunk.choices[0].delta.content ?? "";
    if (chunk.usage) usage = chunk.usage;
  }
  assert(chunks >= 2, `only ${chunks} chunks`);
  assert(text.length > 0, "no text");
  assert(usage && usage.completion_tokens > 0, "no usage chunk");
});

await check("unknown model is a 404 NotFoundError", async () => {
  try {
    await client.completions.create({ model: "no-such-model", prompt: "x", max_tokens: 1 });
    throw new Error("no error");
  } catch (e) {
    assert(e instanceof OpenAI.NotFoundError, `got ${e}`);
    assert(e.status === 404, `status ${e.status}`);
  }
});

console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
