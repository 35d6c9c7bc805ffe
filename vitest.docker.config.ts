// `npm run test:docker`: the Docker demo built and run for real (test/docker), where a Docker
// engine runs. Not part of `npm test`: the project's CI machines have none.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/docker/**/*.test.ts'],
    testTimeout: 1_200_000,
    hookTimeout: 1_200_000,
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
  },
});
