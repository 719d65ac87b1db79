// GitLab 8.15's documented runner API calls (doc/api/ci/builds.md, which doc/ci/api/builds.md
// points to, and doc/api/ci/runners.md), verbatim, and the same calls in the other parameter
// forms. Run by test/buildsApiDoc.test.ts against our server and by test/mock.test.ts against
// `make mock`.

/** The examples, verbatim from the documentation (GitLab CE 8.15). */
export const DOCUMENTED = {
  registerRunner: 'curl --request POST "https://gitlab.example.com/ci/api/v1/runners/register" --form "token=t0k3n"',
  registerBuild: 'curl --request POST "https://gitlab.example.com/ci/api/v1/builds/register" --form "token=t0k3n"',
  updateBuild: 'curl --request PUT "https://gitlab.example.com/ci/api/v1/builds/1234" --form "token=t0k3n" --form "state=running" --form "trace=Running git clone...\\n"',
  appendTrace: 'curl --request PATCH "https://gitlab.example.com/ci/api/v1/builds/1234/trace.txt" --header "BUILD-TOKEN=build_t0k3n" --header "Content-Range=0-21" --data "Running git clone...\\n"',
  uploadArtifacts: 'curl --request POST "https://gitlab.example.com/ci/api/v1/builds/1234/artifacts" --form "token=build_t0k3n" --form "file=@/path/to/file"',
  downloadArtifacts: 'curl "https://gitlab.example.com/ci/api/v1/builds/1234/artifacts" --form "token=build_t0k3n"',
  deleteArtifacts: 'curl --request DELETE "https://gitlab.example.com/ci/api/v1/builds/1234/artifacts" --form "token=build_t0k3n"',
  deleteRunner: 'curl --request DELETE "https://gitlab.example.com/ci/api/v1/runners/delete" --form "token=t0k3n"',
};

/**
 * The two examples as their text means them: curl sends no header without a colon
 * (`BUILD-TOKEN=...`), and `--form` without `--request` POSTs.
 */
export const AS_MEANT = {
  appendTrace: DOCUMENTED.appendTrace.replace('"BUILD-TOKEN=build_t0k3n"', '"BUILD-TOKEN: build_t0k3n"').replace('"Content-Range=0-21"', '"Content-Range: 0-21"'),
  downloadArtifacts: DOCUMENTED.downloadArtifacts.replace('curl ', 'curl --request GET '),
};

/** A runner's User-Agent: "no build" is 204 for gitlab-ci-multi-runner >= 1.3.0, 404 for anything else (curl). */
export const AS_A_RUNNER = ' --user-agent "gitlab-ci-multi-runner 1.11.5 (1-11-stable; go1.8.3; linux/amd64)"';

/** The trace of both examples: `\n` inside double quotes is not a newline to the shell, so 22 bytes. */
export const DOCUMENTED_TRACE = 'Running git clone...\\n';

export type Form = 'multipart' | 'urlencoded' | 'json' | 'query';

/**
 * The command with its `--form "name=value"` text fields moved to another form: `--data-urlencode`,
 * one JSON body, or the URL's query string. File parts stay multipart (only the query form can
 * take the other fields away from them).
 */
export function inForm(command: string, form: Form): string {
  if (form === 'multipart') return command;
  const field = /\s--form "([^"=]+)=([^"@][^"]*)"/g;
  const fields = [...command.matchAll(field)].map((match) => [match[1]!, match[2]!] as const);
  const hasFile = command.includes('=@');
  if (fields.length === 0 || (hasFile && form !== 'query')) return command;
  const rest = command.replace(field, '');
  switch (form) {
    case 'urlencoded':
      return `${rest}${fields.map(([name, value]) => ` --data-urlencode "${name}=${value}"`).join('')}`;
    case 'json':
      return `${rest} --header "Content-Type: application/json" --data '${JSON.stringify(Object.fromEntries(fields))}'`;
    case 'query':
      return rest.replace(/"(https?:\/\/[^"]+)"/, (_, url: string) => `"${url}?${new URLSearchParams(fields.map(([n, v]) => [n, v])).toString()}"`);
  }
}

export interface Localization {
  /** `http://127.0.0.1:<port>` for `https://gitlab.example.com`. */
  host: string;
  /** For `t0k3n`: a registration or runner token. */
  token: string;
  /** For `build_t0k3n`. */
  buildToken?: string;
  /** For `1234`. */
  buildId?: number;
  /** For `/path/to/file`. */
  filePath: string;
}

/** The command pointed at a real server and its objects; `build_t0k3n` goes before `t0k3n`, which it contains. */
export function localizeCommand(command: string, values: Localization): string {
  return command
    .replace('https://gitlab.example.com', values.host)
    .replaceAll('build_t0k3n', values.buildToken ?? 'build_t0k3n')
    .replaceAll('t0k3n', values.token)
    .replaceAll('/builds/1234', `/builds/${values.buildId ?? 1234}`)
    .replaceAll('/path/to/file', values.filePath);
}
