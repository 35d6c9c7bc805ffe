// Runs s3rver in its own process (it needs --openssl-legacy-provider for ListObjectsV2
// continuation tokens). Prints "listening <port>" once ready; stops on SIGTERM.
import S3rver from 's3rver';

const [directory, port] = process.argv.slice(2);
const server = new S3rver({ address: '127.0.0.1', port: Number(port ?? 0), silent: true, directory });
const { port: actual } = await server.run();
process.stdout.write(`listening ${actual}\n`);
process.on('SIGTERM', () => server.close().finally(() => process.exit(0)));
