// One HTTP probe for the smoke test and the deployment waiter: a GET with a time limit that keeps the
// process alive while it waits. AbortSignal.timeout's timer is unref'd: when undici leaves a fetch
// unsettled (a container's port accepting while the app inside starts), nothing is left on the event loop
// and Node ends a script's top-level await with exit code 13 instead of probing again. The timer here is
// referenced and the fetch is raced against it, so a probe always settles within its limit.

export type ProbeResult = { status: number } | { error: string };

/** GET `url`: its status, or why there was none (ECONNREFUSED, "no answer within 2 s"). */
export async function probe(url: string, timeoutMs: number): Promise<ProbeResult> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const reason = new Error(`no answer within ${timeoutMs / 1000} s`);
      controller.abort(reason);
      reject(reason);
    }, timeoutMs);
  });
  try {
    const res = await Promise.race([fetch(url, { signal: controller.signal, redirect: 'follow' }), expired]);
    // the body is never read: cancel it so the connection is released now, not when it is collected
    await res.body?.cancel().catch(() => undefined);
    return { status: res.status };
  } catch (error: any) {
    return { error: String(error?.cause?.code ?? error?.message ?? error) };
  } finally {
    clearTimeout(timer);
  }
}
