// Renders /api/openapi.json as a page (served locally: no CDN, works offline). Text only, no HTML.
"use strict";

function el(tag, text, ...children) {
  const node = document.createElement(tag);
  if (text) node.textContent = text;
  node.append(...children);
  return node;
}

// The spec's prose marks code as Markdown does (`refsearch search --json`): those spans become
// <code> elements, built as text like everything else.
function prose(tag, text) {
  return el(tag, "", ...(text || "").split("`").map((part, i) => (i % 2 ? el("code", part) : part)));
}

function example(path, operation) {
  const query = operation.parameters.filter((p) => p.in === "query" && p.required)
    .map((p) => `${p.name}=${p.name === "query" ? "GPU%20slicing" : p.name === "ref" ? "vllm" : "…"}`).join("&");
  return path.replace("{id}", "ID") + (query ? "?" + query : "");
}

async function render() {
  const spec = await (await fetch("/api/openapi.json")).json();
  const sections = [];
  for (const [path, methods] of Object.entries(spec.paths)) {
    for (const [method, operation] of Object.entries(methods)) {
      const section = el("section", "", el("h2", `${method.toUpperCase()} ${path}`), prose("p", operation.summary));
      section.className = "card";
      const body = operation.requestBody?.content["application/json"].schema;
      const params = operation.parameters.length ? operation.parameters
        : Object.entries(body?.properties || {}).map(([name, schema]) =>
            ({ name, in: "body", schema, description: schema.description, required: body.required.includes(name) }));
      if (params.length) {
        const rows = params.map((p) => el("tr", "", el("td", p.name + (p.required ? " *" : "")),
          el("td", `${p.in}, ${p.schema.type}` + (p.schema.default !== undefined ? ` = ${p.schema.default}` : "")
                   + (p.schema.enum ? ` (${p.schema.enum.join(", ")})` : "")),
          prose("td", p.description)));
        section.append(el("table", "", el("tr", "", el("th", "name"), el("th", "where, type"), el("th", "meaning")), ...rows));
      }
      if (method === "get") {
        const link = el("a", example(path, operation));
        link.href = example(path, operation);
        section.append(el("p", "Try: ", link));
      }
      sections.push(section);
    }
  }
  document.getElementById("endpoints").replaceChildren(...sections);
}

render();
