import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";

const dir = new URL("..", import.meta.url);

test("npm pack ships the sources, the types, README.md and LICENSE", () => {
  const [pack] = JSON.parse(
    execFileSync("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], {
      cwd: dir,
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
    }),
  );
  const files = pack.files.map((f) => f.path);
  for (const f of [
    "README.md",
    "LICENSE",
    "package.json",
    "src/index.js",
    "src/index.d.ts",
  ])
    assert.ok(files.includes(f), `${f} missing from ${files}`);
  assert.ok(
    files.every(
      (f) => !f.startsWith("test/") && !f.startsWith("node_modules/"),
    ),
    files.join(", "),
  );
});

test("package.json names the license, repository and homepage; LICENSE is the repository's", () => {
  const pkg = JSON.parse(readFileSync(new URL("package.json", dir), "utf8"));
  assert.equal(pkg.license, "Apache-2.0");
  assert.match(pkg.repository.url, /^git\+https:\/\//);
  assert.equal(pkg.repository.directory, "js-client");
  assert.match(pkg.homepage, /^https:\/\//);
  assert.equal(
    readFileSync(new URL("LICENSE", dir), "utf8"),
    readFileSync(new URL("../LICENSE", dir), "utf8"),
  );
});
