// Security 3 — request an ACM certificate for DOMAIN_NAME with DNS validation (or reuse the one that exists), create
// the validation records in HOSTED_ZONE_ID, wait until ISSUED and print the ARN for ACM_CERTIFICATE_ARN. Terraform
// can do this itself when ACM_CERTIFICATE_ARN is empty.
// Needs:    DOMAIN_NAME, HOSTED_ZONE_ID
// Produces: an ISSUED certificate ARN
// Next:     set ACM_CERTIFICATE_ARN in .env, then npm run step:3
import { resolveIdentity } from '../lib/aws.js';
import { isMain, main, type ScriptContext, type ScriptSpec } from '../lib/cli.js';
import type { Config } from '../lib/config.js';
import { sh, type Runner } from '../lib/run.js';
import { writeRendered } from '../lib/template.js';
import { UsageError } from '../lib/errors.js';

export async function ensureCertificate(runner: Runner, config: Config, timeoutMs = 30 * 60_000): Promise<string> {
  const domain = config.domain!;
  const region = ['--region', config.region, '--output', 'json'];
  const list = await runner.json(sh`aws acm list-certificates --certificate-statuses ISSUED PENDING_VALIDATION ${region}`);
  let arn: string | undefined = list?.CertificateSummaryList?.find((c: any) => c.DomainName === domain.name)?.CertificateArn;
  if (arn) runner.echo(`# reusing ${arn}`);
  else
    arn =
      (
        await runner.json(
          sh`aws acm request-certificate --domain-name ${domain.name} --validation-method DNS --idempotency-token ${config.project.replace(/-/g, '').slice(0, 32)} ${region}`,
        )
      )?.CertificateArn ?? '<CERTIFICATE_ARN>';
  if (runner.dryRun) {
    runner.echo('[dry-run] # UPSERT the validation CNAME records in HOSTED_ZONE_ID, then: aws acm wait certificate-validated');
    return arn!;
  }
  // the validation records appear a moment after the request
  let cert: any;
  const deadline = Date.now() + 60_000;
  do {
    cert = (await runner.json(sh`aws acm describe-certificate --certificate-arn ${arn!} ${region}`))?.Certificate;
    if (cert?.DomainValidationOptions?.[0]?.ResourceRecord) break;
    await new Promise((r) => setTimeout(r, 2000));
  } while (Date.now() < deadline);
  // UPSERT the validation records even when the certificate is already ISSUED: ACM renews it only while
  // the CNAME stays in the zone, and an identical UPSERT changes nothing.
  const changes = (cert?.DomainValidationOptions ?? [])
    .filter((o: any) => o.ResourceRecord)
    .map((o: any) => ({
      Action: 'UPSERT',
      ResourceRecordSet: {
        Name: o.ResourceRecord.Name,
        Type: o.ResourceRecord.Type,
        TTL: 60,
        ResourceRecords: [{ Value: o.ResourceRecord.Value }],
      },
    }));
  if (!changes.length) throw new Error(`ACM gave no DNS validation record for ${arn}`);
  const file = writeRendered(runner, 'certificate-validation.json', { Comment: `ACM validation for ${domain.name}`, Changes: changes });
  await runner.run(
    sh`aws route53 change-resource-record-sets --hosted-zone-id ${domain.hostedZoneId} --change-batch file://${file} --output json --query ChangeInfo.Status`,
  );
  if (cert?.Status !== 'ISSUED')
    await runner.run(sh`aws acm wait certificate-validated --certificate-arn ${arn!} --region ${config.region}`, { timeoutMs });
  return arn!;
}

export const spec: ScriptSpec = {
  header: import.meta.url,
  command: 'certificate',
  async main({ runner, config }: ScriptContext) {
    if (!config.domain) throw new UsageError('DOMAIN_NAME is not set: set DOMAIN_NAME and HOSTED_ZONE_ID in .env');
    await resolveIdentity(runner, config);
    const arn = await ensureCertificate(runner, config);
    process.stdout.write(`✓ ${arn} ISSUED\n  put it in .env: ACM_CERTIFICATE_ARN=${arn}\n`);
  },
};

if (isMain(import.meta.url)) await main(spec);
