// The boundary's two proofs that nothing ran, shared by the boundary test files: a script run in a process of
// its own with fake CLIs on a private PATH (every call recorded) and AWS_ENDPOINT_URL at a local server that
// counts every request; and a script's own spec run in this process with its main replaced by a spy.
import { createServer, type Server } from 'node:http';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as assert from 'uvu/assert';
import { runScript, type ScriptSpec } from '../../lib/cli.js';
import { fakeBins, HEALTHY_TOOLS } from './fake-bin.js';
import { emptyEnvFile, runScriptFile, type ScriptRun } from './script.js';

export interface Boundary {
  /** Requests the endpoint has seen. */
  requests(): number;
  endpoint: string;
  /** An app checkout with a Dockerfile, for the scripts that build. */
  app: string;
  fakes: ReturnType<typeof fakeBins>;
  /** Run a script with fake tools and the recording endpoint; it must exit 2 having run nothing. */
  refused(script: string, args: string[], env?: Record<string, string>): Promise<ScriptRun>;
  /** The script's spec through the boundary in this process, main replaced by a spy. */
  inProcess(script: string, args: string[], env?: Record<string, string>): Promise<{ code: number; stderr: string; mainCalled: boolean }>;
  close(): Promise<void>;
}

export async function startBoundary(): Promise<Boundary> {
  let requests = 0;
  const server: Server = createServer((_req, res) => {
    requests++;
    res.writeHead(500).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const endpoint = `http://127.0.0.1:${(server.address() as any).port}`;
  const fakes = fakeBins(HEALTHY_TOOLS);
  const app = mkdtempSync(join(tmpdir(), 'app-'));
  writeFileSync(join(app, 'Dockerfile'), 'FROM scratch\n');
  return {
    requests: () => requests,
    endpoint,
    app,
    fakes,
    async refused(script, args, env = {}) {
      const before = { calls: fakes.calls().length, requests };
      const r = await runScriptFile(`scripts/${script}`, args, {
        PATH: fakes.dir,
        AWS_ENDPOINT_URL: endpoint,
        AWS_ACCESS_KEY_ID: 'x',
        AWS_SECRET_ACCESS_KEY: 'y',
        LLMOPS_BUILD_CONTEXT: app,
        ...env,
      });
      assert.is(r.exitCode, 2, `${script} ${args.join(' ')}: exit ${r.exitCode}\n${r.all}`);
      assert.match(r.stderr, 'Nothing was run.', `${script} ${args.join(' ')}`);
      assert.is(
        fakes.calls().length,
        before.calls,
        `${script} ${args.join(' ')} ran a command: ${JSON.stringify(fakes.calls().slice(before.calls))}`,
      );
      assert.is(requests, before.requests, `${script} ${args.join(' ')} made an AWS request`);
      return r;
    },
    async inProcess(script, args, env = {}) {
      const { spec } = (await import(`../../scripts/${script}`)) as { spec: ScriptSpec };
      let mainCalled = false;
      let stderr = '';
      const saved = { ...process.env };
      const write = process.stderr.write.bind(process.stderr);
      Object.assign(process.env, { LLMOPS_ENV_FILE: emptyEnvFile(), LLMOPS_BUILD_CONTEXT: app, AWS_ENDPOINT_URL: endpoint, ...env });
      for (const [k, v] of Object.entries(env)) if (v === undefined) delete process.env[k];
      process.stderr.write = ((chunk: any) => ((stderr += String(chunk)), true)) as any;
      try {
        const code = await runScript({ ...spec, main: async () => void (mainCalled = true) }, args);
        return { code, stderr, mainCalled };
      } finally {
        process.stderr.write = write;
        for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
        Object.assign(process.env, saved);
      }
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
