// Command kinds for the original tool's node `specialties` (compilation, testing,
// containerization, ollama-inference, ...): a node whose specialty matches the command's kind
// wins ties between equally loaded nodes (cluster/placement.ts). Pure: a table and a matcher.
import { compileEntries, launchedCommand, matchesEntry } from './classify.js';
import { parseShell } from './shellParse.js';

/**
 * Kind → the programs that are that kind of work, in the offload list's syntax: `program`,
 * `program sub` (first operand), `program -x` (that option). A qualified entry beats a bare one
 * for the same program: `cargo test` is testing, `cargo build` compilation.
 */
export const SPECIALTY_KINDS: Readonly<Record<string, readonly string[]>> = {
  compilation: [
    'make',
    'gmake',
    'ninja',
    'cmake',
    'meson',
    'bazel',
    'bazelisk',
    'scons',
    'mvn',
    'gradle',
    'gradlew',
    'ant',
    'sbt',
    'cargo',
    'cargo build',
    'rustc',
    'go build',
    'go install',
    'tsc',
    'dotnet build',
    'xcodebuild',
    'swift build',
    'swiftc',
    'gcc',
    'g++',
    'clang',
    'clang++',
    'cc',
    'c++',
    'javac',
    'npm run build',
    'yarn build',
    'pnpm build',
  ],
  testing: [
    'pytest',
    'py.test',
    'tox',
    'nox',
    'unittest',
    'jest',
    'vitest',
    'mocha',
    'ava',
    'karma',
    'playwright',
    'cypress',
    'ctest',
    'test',
    'cargo test',
    'go test',
    'make test',
    'make check',
    'npm test',
    'npm run test',
    'yarn test',
    'pnpm test',
    'swift test',
    'dotnet test',
    'mvn test',
    'gradle test',
  ],
  containerization: ['docker', 'podman', 'buildah', 'kubectl', 'helm', 'nerdctl', 'docker-compose', 'skopeo'],
  benchmarking: ['hyperfine', 'wrk', 'ab', 'fio', 'sysbench', 'cargo bench', 'go test -bench', 'criterion'],
  'ollama-inference': ['ollama', 'ollama run', 'ollama pull'],
  'model-serving': ['ollama serve', 'vllm', 'llama-server', 'text-generation-launcher', 'tritonserver'],
  'mlx-gpu': ['mlx_lm.generate', 'mlx_lm.server'],
  documentation: ['pandoc', 'mkdocs', 'sphinx-build', 'doxygen', 'asciidoctor', 'typst', 'latexmk', 'pdflatex'],
  orchestration: ['temporal', 'ansible', 'ansible-playbook', 'terraform', 'nomad'],
};

const compiled = Object.entries(SPECIALTY_KINDS).flatMap(([kind, list]) => compileEntries([...list]).map((entry) => ({ kind, entry })));

/** The kinds of work a command line does (any part of it: pipelines, lists, subshells), in table order. */
export function commandKinds(command: string): string[] {
  const parsed = parseShell(command);
  const kinds = new Set<string>();
  // Launchers are looked through as the classifier does: `npx jest` is jest, `python -m pytest` pytest.
  for (const cmd of parsed.commands.flatMap((c) => {
    const l = launchedCommand(c);
    return l ? [c, l] : [c];
  })) {
    const hits = compiled.filter(({ entry }) => matchesEntry(entry, cmd));
    // The most specific entries for this program win (`cargo test` over `cargo`).
    const best = hits.some((h) => h.entry.qualifier !== undefined) ? hits.filter((h) => h.entry.qualifier !== undefined) : hits;
    for (const h of best) kinds.add(h.kind);
  }
  return Object.keys(SPECIALTY_KINDS).filter((k) => kinds.has(k));
}
