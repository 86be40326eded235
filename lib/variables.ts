// Names the toolkit knows besides its settings (AWS's, Terraform's, its own LLMOPS_ ones), and the misspelling
// finder that names the closest known one for a name it does not know (REGOIN -> REGION).
import { KNOWN_VARIABLES, PREFIX } from './schema.js';

/**
 * Names other tools read, which a .env may hold and the environment may carry. A name with one of these
 * prefixes that is not known but is within two edits of a known one is reported as a misspelling.
 */
export const AWS_VARIABLES = [
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
  'AWS_PROFILE',
  'AWS_DEFAULT_PROFILE',
  'AWS_REGION',
  'AWS_DEFAULT_REGION',
  'AWS_ENDPOINT_URL',
  'AWS_CONFIG_FILE',
  'AWS_SHARED_CREDENTIALS_FILE',
  'AWS_CA_BUNDLE',
  'AWS_MAX_ATTEMPTS',
  'AWS_RETRY_MODE',
  'AWS_PAGER',
  'AWS_DEFAULT_OUTPUT',
  'AWS_ROLE_ARN',
  'AWS_ROLE_SESSION_NAME',
  'AWS_WEB_IDENTITY_TOKEN_FILE',
  'AWS_STS_REGIONAL_ENDPOINTS',
  'AWS_USE_FIPS_ENDPOINT',
  'AWS_USE_DUALSTACK_ENDPOINT',
  'AWS_SDK_LOAD_CONFIG',
  'AWS_EC2_METADATA_DISABLED',
  'AWS_ACCOUNT_ID',
  'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI',
  'AWS_CONTAINER_CREDENTIALS_FULL_URI',
  'AWS_CONTAINER_AUTHORIZATION_TOKEN',
  'AWS_CREDENTIAL_EXPIRATION',
  'AWS_CLI_AUTO_PROMPT',
  'AWS_CLI_FILE_ENCODING',
  'AWS_DATA_PATH',
  'AWS_IGNORE_CONFIGURED_ENDPOINT_URLS',
  'AWS_METADATA_SERVICE_TIMEOUT',
  'AWS_METADATA_SERVICE_NUM_ATTEMPTS',
  'AWS_REQUEST_CHECKSUM_CALCULATION',
  'AWS_RESPONSE_CHECKSUM_VALIDATION',
  'AWS_SDK_UA_APP_ID',
  'AWS_EXECUTION_ENV',
  'AWS_NODEJS_CONNECTION_REUSE_ENABLED',
  'AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED',
  'AWS_ACCOUNT_ID_ENDPOINT_MODE',
];
export const TF_VARIABLES = [
  'TF_LOG',
  'TF_LOG_PATH',
  'TF_LOG_CORE',
  'TF_LOG_PROVIDER',
  'TF_INPUT',
  'TF_IN_AUTOMATION',
  'TF_DATA_DIR',
  'TF_WORKSPACE',
  'TF_PLUGIN_CACHE_DIR',
  'TF_CLI_CONFIG_FILE',
  'TF_IGNORE',
  'TF_APPEND_USER_AGENT',
  'TF_STATE_PERSIST_INTERVAL',
  'TF_REGISTRY_DISCOVERY_RETRY',
  'TF_REGISTRY_CLIENT_TIMEOUT',
  'TF_PLUGIN_CACHE_MAY_BREAK_DEPENDENCY_LOCK_FILE',
  'TF_CLI_ARGS',
  'TF_ACC',
];
/** Families of names that are open-ended (TF_VAR_x, TF_CLI_ARGS_plan, AWS_ENDPOINT_URL_ECS, ...). */
export const OPEN_FAMILIES = /^(TF_VAR_|TF_CLI_ARGS_|TF_TOKEN_|AWS_ENDPOINT_URL_|AWS_LAMBDA_)/;
/** The toolkit's own process variables (not configuration): the env files, the renderer, debug, state and sandbox dirs. */
export const TOOLKIT_VARIABLES = [
  'LLMOPS_ENV_FILE',
  'LLMOPS_ENVIRONMENT',
  'LLMOPS_RENDERER',
  'LLMOPS_DEBUG',
  'LLMOPS_STATE_DIR',
  'LLMOPS_SANDBOX_DIR',
  'LLMOPS_TRACE_ARGV',
];
/** What else a .env may hold, for other tools: Docker, CI, colour, the sandbox's own settings. */
export const OTHER_TOOLS = /^(DOCKER_|CI$|GITHUB_|NO_COLOR$|FORCE_COLOR$|SANDBOX_)/;

export const SETTING_NAMES = () => KNOWN_VARIABLES as string[];
export const prefixed = (k: string) => `${PREFIX}${k}`;
/** AWS_REGION, TF_DIR, TF_STATE_BUCKET: settings whose names already carry a standard prefix are read bare from the environment too. */
export const readBare = (k: string) => k.startsWith('AWS_') || k.startsWith('TF_');

/** The known name a misspelt one is closest to, or undefined (also for names that are known). */
export function misspelling(name: string): string | undefined {
  const settings = SETTING_NAMES();
  if (name.startsWith(PREFIX)) {
    if (TOOLKIT_VARIABLES.includes(name) || settings.includes(name.slice(PREFIX.length))) return undefined;
    return closest(name, [...settings.map(prefixed), ...TOOLKIT_VARIABLES], Infinity) ?? '';
  }
  if (name.startsWith('AWS_') || name.startsWith('TF_')) {
    if (OPEN_FAMILIES.test(name) || AWS_VARIABLES.includes(name) || TF_VARIABLES.includes(name) || settings.includes(name))
      return undefined;
    return closest(name, [...AWS_VARIABLES, ...TF_VARIABLES, ...settings.filter(readBare)], 2);
  }
  return undefined;
}

export function closest(word: string, candidates: string[], maxDistance: number): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.min(maxDistance, Math.max(3, Math.floor(word.length / 4))) + 1;
  for (const c of candidates) {
    const d = editDistance(word, c);
    if (d < bestDistance) [best, bestDistance] = [c, d];
  }
  return best;
}

/** Damerau-Levenshtein (optimal string alignment): a swap of two neighbours is one edit (REGOIN -> REGION). */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]!;
}
