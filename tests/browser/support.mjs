// What every check shares: a freshly started orchestrator (the debug binary built by
// `cargo test`, on free loopback ports) and where artifacts go.

import { spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync, mkdirSync } from "node:fs";
import { createInterface } from "node:readline";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const HERE = dirname(fileURLToPath(import.meta.url));
export const REPO = resolve(HERE, "..", "..");

/** Where screenshots and logs are written (CI keeps `target/` as its artifact folder). */
export const ARTIFACTS = join(REPO, "target", "browser-checks");

/** How long the binary may take to say it listens. */
const START_TIMEOUT_MS = 60_000;

export function artifactsDir() {
  mkdirSync(ARTIFACTS, { recursive: true });
  return ARTIFACTS;
}

function binary() {
  const path = process.env.ORCHESTRATOR_BIN ?? join(REPO, "target", "debug", "orchestrator");
  if (!existsSync(path)) {
    throw new Error(`${path} is missing: build it with \`cargo build -p orchestrator\``);
  }
  return path;
}

function emulatorBinary() {
  const path =
    process.env.LIVEKIT_EMULATOR_BIN ?? join(REPO, "target", "debug", "livekit-emulator");
  if (!existsSync(path)) {
    throw new Error(`${path} is missing: build it with \`cargo build -p livekit-emulator\``);
  }
  return path;
}

/**
 * Starts the standalone LiveKit emulator (target/debug/livekit-emulator) on a free loopback
 * port with the given credentials, as a stand-in for a real LiveKit in production mode.
 * @returns {Promise<{url: string, stop: () => Promise<void>}>}
 */
export async function startLiveKitEmulator(apiKey, apiSecret) {
  const child = spawn(emulatorBinary(), [], {
    env: {
      PATH: process.env.PATH,
      NO_COLOR: "1",
      LIVEKIT_EMULATOR_PORT: "0",
      LIVEKIT_API_KEY: apiKey,
      LIVEKIT_API_SECRET: apiSecret,
    },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const url = await new Promise((resolveUrl, reject) => {
    const timer = setTimeout(() => reject(new Error("the emulator did not start")), START_TIMEOUT_MS);
    child.once("exit", (code) => reject(new Error(`the emulator exited (${code}) at start`)));
    createInterface({ input: child.stdout }).on("line", (line) => {
      // eslint-disable-next-line no-control-regex
      const address = line.replace(/\x1b\[[0-9;]*m/g, "").match(/address=(\S+)/);
      if (!line.includes("livekit emulator listening") || !address) return;
      clearTimeout(timer);
      resolveUrl(`http://${address[1]}`);
    });
  });
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, "exit");
    child.kill("SIGTERM");
    await exited;
  };
  return { url, stop };
}

/**
 * Starts the orchestrator with `env` on free ports (zero configuration otherwise: in-memory
 * store, embedded LiveKit emulator) and resolves once it listens. `livekit` is the LiveKit
 * address it uses (the embedded emulator's, whose `/emulator/...` routes play encoders and
 * egress workers).
 * @returns {Promise<{base: string, port: number, livekit: string, logs: string[], stop: () => Promise<void>}>}
 */
export async function startOrchestrator(env = {}) {
  const child = spawn(binary(), [], {
    cwd: REPO,
    env: {
      PATH: process.env.PATH,
      PORT: "0",
      GRPC_PORT: "0",
      LOG_FORMAT: "json",
      RUST_LOG: "info",
      ...env,
    },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const logs = [];
  const listening = new Promise((resolveAddr, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no "orchestrator listening" line within ${START_TIMEOUT_MS} ms`)),
      START_TIMEOUT_MS,
    );
    child.once("exit", (code) => reject(new Error(`the orchestrator exited (${code}) at start`)));
    createInterface({ input: child.stdout }).on("line", (line) => {
      logs.push(line);
      if (!line.includes("orchestrator listening")) return;
      clearTimeout(timer);
      resolveAddr(JSON.parse(line));
    });
  });
  let started;
  try {
    started = await listening;
  } catch (err) {
    child.kill("SIGKILL");
    throw err;
  }
  const port = Number(started.http.split(":").pop());
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, "exit");
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
    await exited;
    clearTimeout(timer);
  };
  return { base: `http://127.0.0.1:${port}`, port, livekit: started.livekit, logs, stop };
}
