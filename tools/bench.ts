process.stdout.write('bench: not written yet\n');
