// Facts about the running installation, read once at construction (never on the request path).
import { existsSync, readFileSync } from 'node:fs';
import { release } from 'node:os';
import type { DeploymentType } from '../types.js';

export interface RuntimeEnvironment {
  platform: string;
  os_version: string;
  architecture: string;
  locale: string;
  timezone: string;
  deployment_type: DeploymentType;
}

function runsInContainer(env: Record<string, string | undefined>): boolean {
  if (existsSync('/.dockerenv') || existsSync('/run/.containerenv') || env.KUBERNETES_SERVICE_HOST) return true;
  try {
    return /docker|containerd|kubepods|libpod/.test(readFileSync('/proc/1/cgroup', 'utf8'));
  } catch {
    return false;
  }
}

export function detectEnvironment(
  deploymentType: 'auto' | DeploymentType,
  env: Record<string, string | undefined> = process.env,
): RuntimeEnvironment {
  const resolved = Intl.DateTimeFormat().resolvedOptions();
  return {
    platform: process.platform,
    os_version: release(),
    architecture: process.arch,
    locale: resolved.locale || 'und',
    timezone: resolved.timeZone || 'UTC',
    deployment_type: deploymentType === 'auto' ? (runsInContainer(env) ? 'docker' : 'native') : deploymentType,
  };
}
