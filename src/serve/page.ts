// The web page served at `/`: chat with streamed tokens, a stop button, sampling settings, and a
// classify view when a classifier is loaded. One self-contained document (no CDN, no build step),
// talking to the same OpenAI-compatible API any other client uses.
export const PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>gptkit</title>
<link rel="icon" href="data:,">
<style>
  :root { font: 15px/1.45 system-ui, sans-serif; color: #1d1d1f; background: #f5f5f7; }
  body { margin: 0 auto; max-width: 860px; padding: 16px; }
  header { display: flex; align-items: baseline; gap: 12px; flex-wrap: wrap; }
  h1 { font-size: 20px; margin: 0; }
  #model { color: #555; }
  nav button { border: 0; background: none; padding: 6px 10px; cursor: pointer; border-bottom: 2px solid transparent; }
  nav button[aria-selected="true"] { border-color: #0a63c9; color: #0a63c9; }
  #status { margin: 8px 0; padding: 8px 10px; border-radius: 6px; display: none; }
  #status.error { display: block; background: #fde8e8; color: #8a1c1c; }
  #status.info { display: block; background: #e8f0fd; color: #1c3f8a; }
  #messages { background: #fff; border-radius: 8px; min-height: 220px; padding: 10px; overflow-y: auto; max-height: 55vh; }
  .msg { margin: 6px 0; white-space: pre-wrap; }
  .msg .who { font-weight: 600; margin-right: 6px; }
  .msg.user .who { color: #0a63c9; }
  .msg.assistant .who { color: #2e7d32; }
  .msg .note { color: #888; font-style: italic; margin-left: 6px; }
  textarea { width: 100%; box-sizing: border-box; font: inherit; padding: 8px; border-radius: 6px; border: 1px solid #ccc; }
  .row { display: flex; gap: 8px; margin: 8px 0; flex-wrap: wrap; align-items: center; }
  button.primary { background: #0a63c9; color: #fff; border: 0; border-radius: 6px; padding: 7px 14px; cursor: pointer; }
  button.primary:disabled, button.secondary:disabled { opacity: .5; cursor: default; }
  button.secondary { background: #fff; border: 1px solid #bbb; border-radius: 6px; padding: 7px 14px; cursor: pointer; }
  details { margin: 8px 0; }
  label { font-size: 13px; color: #444; }
  input { width: 90px; font: inherit; padding: 3px; }
  input#api-key { width: 200px; }
  .bar { height: 10px; background: #0a63c9; border-radius: 3px; }
  table { border-collapse: collapse; width: 100%; background: #fff; border-radius: 8px; }
  td { padding: 6px 8px; vertical-align: middle; }
  td:nth-child(1) { width: 30%; }
  td:nth-child(2) { width: 55%; }
  tr.predicted td:nth-child(1) { font-weight: 600; }
  [hidden] { display: none !important; }
</style>
</head>
<body>
<header>
  <h1>gptkit</h1><span id="model">connecting…</span>
  <nav><button id="tab-chat" aria-selected="true">Chat</button><button id="tab-classify" aria-selected="false" hidden>Classify</button></nav>
</header>
<div id="status" role="status"></div>

<section id="chat-view">
  <div id="messages" aria-live="polite"></div>
  <textarea id="prompt" rows="3" placeholder="Type a message (Enter sends, Shift+Enter for a new line)"></textarea>
  <div class="row">
    <button id="send" class="primary">Send</button>
    <button id="stop" class="secondary" disabled>Stop</button>
    <button id="clear" class="secondary">Clear</button>
  </div>
  <details>
    <summary>Settings</summary>
    <div class="row">
      <label>temperature <input id="temperature" type="number" min="0" max="2" step="0.1" value="0.7"></label>
      <label>top-k <input id="top-k" type="number" min="0" step="1" value="40"></label>
      <label>top-p <input id="top-p" type="number" min="0.01" max="1" step="0.05" value="0.95"></label>
      <label>max tokens <input id="max-tokens" type="number" min="1" step="1" value="128"></label>
      <label>API key <input id="api-key" type="password" autocomplete="off"></label>
    </div>
  </details>
</section>

<section id="classify-view" hidden>
  <textarea id="classify-input" rows="4" placeholder="Text to classify"></textarea>
  <div class="row"><button id="classify" class="primary">Classify</button></div>
  <table id="classify-result"></table>
</section>

<script>
"use strict";
const $ = (id) => document.getElementById(id);
const history = [];
let controller = null;
let contextLength = 1024;

function setStatus(text, kind) {
  const s = $("status");
  s.textContent = text || "";
  s.className = text ? kind || "info" : "";
}

function headers() {
  const h = { "content-type": "application/json" };
  const key = $("api-key").value || localStorage.getItem("gptkit-api-key") || "";
  if (key) h.authorization = "Bearer " + key;
  return h;
}

/** Turns a failed fetch or an error reply into a sentence for the user. */
async function explain(err, res) {
  if (!res) return "Cannot reach the gptkit server (" + location.host + "). Is gptkit serve still running?";
  let msg = res.status + " " + res.statusText;
  try { msg = (await res.json()).error.message || msg; } catch (e) { /* not JSON */ }
  if (res.status === 503) return "The server is busy: " + msg;
  if (res.status === 401) return "The server needs an API key (Settings): " + msg;
  return msg;
}

async function refresh() {
  try {
    const res = await fetch("/health");
    const h = await res.json();
    contextLength = h.context_length;
    $("model").textContent = h.model + " · context " + h.context_length + " · batch " + h.max_batch;
    $("tab-classify").hidden = !h.classifier;
    const mt = $("max-tokens");
    if (+mt.value >= contextLength) mt.value = Math.max(1, Math.floor(contextLength / 2));
    if (!res.ok) setStatus("The server is " + h.status + ".", "error");
  } catch (e) {
    setStatus(await explain(e, null), "error");
  }
}

function addMessage(role, text) {
  const div = document.createElement("div");
  div.className = "msg " + role;
  const who = document.createElement("span");
  who.className = "who";
  who.textContent = role === "user" ? "You" : "Model";
  const body = document.createElement("span");
  body.className = "text";
  body.textContent = text;
  div.append(who, body);
  $("messages").append(div);
  return div;
}

function setBusy(busy) {
  $("send").disabled = busy;
  $("stop").disabled = !busy;
}

async function send() {
  const text = $("prompt").value.trim();
  if (!text || controller) return;
  $("prompt").value = "";
  setStatus("");
  history.push({ role: "user", content: text });
  addMessage("user", text);
  const reply = addMessage("assistant", "");
  const out = reply.querySelector(".text");
  controller = new AbortController();
  setBusy(true);
  const body = {
    messages: history,
    stream: true,
    temperature: +$("temperature").value,
    top_k: +$("top-k").value,
    top_p: +$("top-p").value,
    max_tokens: +$("max-tokens").value,
  };
  let res = null;
  let finish = "";
  try {
    res = await fetch("/v1/chat/completions", { method: "POST", headers: headers(), body: JSON.stringify(body), signal: controller.signal });
    if (!res.ok) throw new Error("http");
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let end;
      while ((end = buffer.indexOf("\\n\\n")) >= 0) {
        const event = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        if (!event.startsWith("data: ") || event === "data: [DONE]") continue;
        const chunk = JSON.parse(event.slice(6));
        const choice = chunk.choices[0];
        if (choice && choice.delta.content) {
          out.textContent += choice.delta.content;
          $("messages").scrollTop = $("messages").scrollHeight;
        }
        if (choice && choice.finish_reason) finish = choice.finish_reason;
      }
    }
    if (finish === "length") note(reply, "(max tokens reached)");
  } catch (e) {
    if (e.name === "AbortError") note(reply, "(stopped)");
    else {
      setStatus(await explain(e, res), "error");
      if (!out.textContent) reply.remove();
    }
  } finally {
    if (out.textContent) history.push({ role: "assistant", content: out.textContent });
    else if (history[history.length - 1].role === "user" && !reply.isConnected) history.pop();
    controller = null;
    setBusy(false);
  }
}

function note(el, text) {
  const n = document.createElement("span");
  n.className = "note";
  n.textContent = text;
  el.append(n);
}

async function classify() {
  const input = $("classify-input").value;
  if (!input.trim()) return;
  setStatus("");
  let res = null;
  try {
    res = await fetch("/v1/classify", { method: "POST", headers: headers(), body: JSON.stringify({ input }) });
    if (!res.ok) throw new Error("http");
    const r = (await res.json()).data[0];
    const table = $("classify-result");
    table.replaceChildren();
    for (const [label, p] of Object.entries(r.probabilities).sort((a, b) => b[1] - a[1])) {
      const tr = table.insertRow();
      tr.className = label === r.label ? "predicted" : "";
      tr.insertCell().textContent = label;
      const bar = document.createElement("div");
      bar.className = "bar";
      bar.style.width = (100 * p).toFixed(1) + "%";
      tr.insertCell().append(bar);
      tr.insertCell().textContent = (100 * p).toFixed(1) + "%";
    }
  } catch (e) {
    setStatus(await explain(e, res), "error");
  }
}

function show(view) {
  $("chat-view").hidden = view !== "chat";
  $("classify-view").hidden = view !== "classify";
  $("tab-chat").setAttribute("aria-selected", String(view === "chat"));
  $("tab-classify").setAttribute("aria-selected", String(view === "classify"));
}

$("send").onclick = send;
$("stop").onclick = () => controller && controller.abort();
$("clear").onclick = () => { history.length = 0; $("messages").replaceChildren(); setStatus(""); };
$("classify").onclick = classify;
$("tab-chat").onclick = () => show("chat");
$("tab-classify").onclick = () => show("classify");
$("api-key").onchange = () => localStorage.setItem("gptkit-api-key", $("api-key").value);
$("prompt").addEventListener("keydown", (e) => {
  if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); send(); }
});
refresh();
</script>
</body>
</html>
`;
