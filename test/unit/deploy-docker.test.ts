// The Docker files (docker/): the compose file wires PostgreSQL (archiving through pitr),
// MinIO and the agent together, holds no secret but the demo's documented ones, and the
// images run pitr as a non-root user with the agent's port exposed. No Docker engine is
// needed: docker-compose (Debian's, installed by .ci/run) resolves the compose file, and the
// files are parsed, not built. Where an engine runs, npm run test:docker builds and runs them
// (test/docker/compose.test.ts).
import { execa } from 'execa';
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ROOT } from '../../tools/harness/env.js';

const DOCKER = join(ROOT, 'docker');
const DEMO_SECRETS = new Set(['pitr-demo', 'pitr-demo-secret']);

interface Service {
  image?: string;
  build?: { context: string; dockerfile: string };
  command?: string[] | string;
  entrypoint?: string[] | string;
  environment?: Record<string, string>;
  env_file?: string[];
  ports?: string[];
  depends_on?: Record<string, { condition: string }> | string[];
}
const compose = parse(readFileSync(join(DOCKER, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
  services: Record<string, Service>;
};
const services = compose.services;
const words = (v: string[] | string | undefined) => (Array.isArray(v) ? v : (v ?? '').split(/\s+/));
const dependsOn = (s: Service) => (Array.isArray(s.depends_on) ? s.depends_on : Object.keys(s.depends_on ?? {}));

/** A Dockerfile's instructions (continuations joined, comments out), by stage: the last is the image's. */
function stages(file: string): { from: string; lines: string[] }[] {
  const text = readFileSync(join(DOCKER, file), 'utf8')
    .split('\n')
    .filter((l) => !/^\s*#/.test(l))
    .join('\n')
    .replace(/\\\n/g, ' ');
  const out: { from: string; lines: string[] }[] = [];
  for (const line of text.split('\n').map((l) => l.trim())) {
    if (!line) continue;
    if (/^FROM\s/i.test(line)) out.push({ from: line.split(/\s+/)[1]!, lines: [] });
    out.at(-1)!.lines.push(line);
  }
  return out;
}
const instr = (lines: string[], name: string) => lines.filter((l) => l.toUpperCase().startsWith(`${name} `));

describe('docker-compose.yml', () => {
  it('is a valid compose file: docker-compose config resolves it (no engine needed)', async () => {
    // A copy with the git-ignored token file the README has the user create.
    const dir = await mkdtemp(join(tmpdir(), 'pitr-compose-'));
    try {
      await cp(DOCKER, join(dir, 'docker'), { recursive: true });
      await writeFile(join(dir, 'docker', 'pitr-token.env'), 'PITR_HTTP_TOKEN=0123456789abcdef0123456789abcdef\n');
      const res = await execa('docker-compose', ['-f', join(dir, 'docker', 'docker-compose.yml'), 'config'], { reject: false });
      expect(res.exitCode, res.stderr).toBe(0);
      const resolved = parse(res.stdout) as { services: Record<string, Service & { environment: Record<string, string> }> };
      expect(Object.keys(resolved.services).sort()).toEqual(['agent', 'createbucket', 'minio', 'postgres']);
      expect(resolved.services.agent!.environment.PITR_HTTP_TOKEN).toBe('0123456789abcdef0123456789abcdef');
      expect(resolved.services.postgres!.environment.PITR_REPO).toBe(resolved.services.agent!.environment.PITR_REPO);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('runs PostgreSQL, MinIO and the agent, and a one-shot that creates the bucket', () => {
    expect(Object.keys(services).sort()).toEqual(['agent', 'createbucket', 'minio', 'postgres']);
    expect(services.minio!.image).toMatch(/^minio\/minio(:|$)/);
    expect(services.createbucket!.image).toMatch(/^minio\/mc(:|$)/);
    expect(dependsOn(services.createbucket!)).toContain('minio');
    expect(dependsOn(services.postgres!)).toContain('createbucket');
    expect(dependsOn(services.agent!)).toContain('postgres');
    for (const name of ['postgres', 'agent']) {
      const b = services[name]!.build!;
      expect(existsSync(join(DOCKER, b.context, b.dockerfile)), `${name}: ${b.dockerfile}`).toBe(true);
    }
    expect(services.postgres!.build!.dockerfile).toBe('docker/Dockerfile.postgres');
    expect(services.agent!.build!.dockerfile).toBe('docker/Dockerfile');
  });

  it('PostgreSQL archives through pitr wal-push, into the bucket the one-shot creates', () => {
    const cmd = words(services.postgres!.command);
    expect(cmd[0]).toBe('postgres');
    expect(cmd).toContain('archive_mode=on');
    expect(cmd).toContain('archive_command=pitr wal-push %p');
    const env = services.postgres!.environment!;
    const bucket = /^s3:\/\/([^/]+)\//.exec(env.PITR_REPO!)![1];
    expect(words(services.createbucket!.entrypoint).join(' ')).toContain(`mc mb --ignore-existing demo/${bucket}`);
  });

  it('pitr reaches S3 at the minio service, with the same repository on both sides', () => {
    const minioPort = '9000'; // MinIO's S3 API (its console is on 9001)
    for (const name of ['postgres', 'agent']) {
      const env = services[name]!.environment!;
      const endpoint = new URL(env.PITR_S3_ENDPOINT!);
      expect(endpoint.hostname, name).toBe('minio');
      expect(endpoint.port, name).toBe(minioPort);
      expect(env.PITR_S3_FORCE_PATH_STYLE, name).toBe('true');
      expect(env.PITR_REPO, name).toBe(services.postgres!.environment!.PITR_REPO);
      expect(env.AWS_ACCESS_KEY_ID, name).toBe(services.minio!.environment!.MINIO_ROOT_USER);
      expect(env.AWS_SECRET_ACCESS_KEY, name).toBe(services.minio!.environment!.MINIO_ROOT_PASSWORD);
    }
  });

  it("the agent serves port 9733 on the host's loopback, connects to the postgres service, and takes its token from an env file", () => {
    const agent = services.agent!;
    expect(words(agent.command)).toEqual(['agent']);
    expect(agent.environment!.PITR_HTTP_LISTEN).toBe('0.0.0.0:9733');
    expect(agent.ports).toContain('127.0.0.1:9733:9733');
    expect(agent.environment!.PGHOST).toBe('postgres');
    expect(agent.environment!.PGPASSWORD).toBe(services.postgres!.environment!.POSTGRES_PASSWORD);
    expect(agent.environment).not.toHaveProperty('PITR_HTTP_TOKEN');
    expect(agent.env_file).toEqual(['pitr-token.env']);
    // The token file is the user's own: never committed.
    expect(readFileSync(join(DOCKER, '.gitignore'), 'utf8').split('\n')).toContain('pitr-token.env');
  });

  it('holds no secret but the demo passwords the README documents', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    for (const s of DEMO_SECRETS) expect(readme).toContain(s);
    const found: string[] = [];
    for (const [name, s] of Object.entries(services))
      for (const [key, value] of Object.entries(s.environment ?? {}))
        if (/PASSWORD|SECRET|TOKEN|_KEY|PASS$/i.test(key) && !DEMO_SECRETS.has(String(value))) found.push(`${name}: ${key}`);
    expect(found).toEqual([]);
    for (const s of Object.values(services)) expect(JSON.stringify(s)).not.toMatch(/AKIA[0-9A-Z]{16}|hooks\.slack\.com/);
  });
});

describe('Dockerfiles', () => {
  it('the agent image: Node 20 bookworm, PostgreSQL 15 tools and lz4, a non-root user, port 9733, pitr agent', () => {
    const all = stages('Dockerfile');
    const image = all.at(-1)!;
    expect(image.from).toBe('node:20-bookworm-slim');
    const run = instr(image.lines, 'RUN').join(' ');
    for (const pkg of ['postgresql-15', 'postgresql-client-15', 'lz4', 'age']) expect(run).toMatch(new RegExp(`\\s${pkg}(\\s|$)`));
    const users = instr(image.lines, 'USER');
    expect(users.length).toBeGreaterThan(0);
    expect(users.at(-1)!.split(/\s+/)[1]).not.toMatch(/^(root|0)(:|$)/);
    expect(instr(image.lines, 'EXPOSE').join(' ')).toMatch(/\b9733\b/);
    expect(instr(image.lines, 'ENV').join(' ')).toContain('PITR_HTTP_LISTEN=0.0.0.0:9733');
    expect(JSON.parse(instr(image.lines, 'ENTRYPOINT')[0]!.replace(/^ENTRYPOINT\s+/i, '')).at(-1)).toBe('pitr');
    expect(
      JSON.parse(
        instr(image.lines, 'CMD')
          .at(-1)!
          .replace(/^CMD\s+/i, ''),
      ),
    ).toEqual(['agent']);
    // esbuild is a devDependency: the bundle is built in a stage of its own, and only the
    // production dependencies reach the image.
    const build = all[0]!;
    expect(instr(build.lines, 'RUN').join(' ')).toMatch(/npm ci\b.*node scripts\/build\.mjs.*npm prune --omit=dev/);
    expect(instr(image.lines, 'COPY').join(' ')).toContain('/opt/pitr/dist');
  });

  it('the PostgreSQL image: postgres:15 with node and pitr on its PATH, replication allowed for the agent', () => {
    const image = stages('Dockerfile.postgres').at(-1)!;
    expect(image.from).toMatch(/^postgres:15(-bookworm)?$/);
    const copies = instr(image.lines, 'COPY').join('\n');
    expect(copies).toContain('/usr/local/bin/node');
    expect(instr(image.lines, 'RUN').join(' ')).toContain('ln -s /opt/pitr/bin/pitr /usr/local/bin/pitr');
    expect(copies).toMatch(/docker\/initdb-replication\.sh \/docker-entrypoint-initdb\.d\//);
    accessSync(join(DOCKER, 'initdb-replication.sh'), constants.X_OK);
    expect(readFileSync(join(DOCKER, 'initdb-replication.sh'), 'utf8')).toContain("'host replication all all scram-sha-256' >>");
  });

  it('every file a build copies from the context exists and is not excluded by its .dockerignore', () => {
    for (const file of ['Dockerfile', 'Dockerfile.postgres']) {
      const allowed = readFileSync(join(DOCKER, `${file}.dockerignore`), 'utf8')
        .split('\n')
        .filter((l) => l.startsWith('!'))
        .map((l) => l.slice(1).replace(/\/$/, ''));
      for (const stage of stages(file))
        for (const copy of instr(stage.lines, 'COPY').filter((l) => !/--from=/.test(l))) {
          const sources = copy.split(/\s+/).slice(1, -1);
          for (const src of sources) {
            expect(existsSync(join(ROOT, src)), `${file}: ${src}`).toBe(true);
            expect(allowed, `${file}: ${src}`).toContain(src.replace(/\/$/, ''));
          }
        }
    }
  });
});
