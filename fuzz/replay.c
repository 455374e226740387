/*
 * A main() for fuzz targets built without libFuzzer: runs the target once
 * per file named on the command line, so make check replays the seed
 * corpora with the same code the fuzzer drives. Prints TAP.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
main(int argc, char **argv)
{
	int i;

	printf("1..%d\n", argc - 1);
	for (i = 1; i < argc; i++) {
		FILE *fp = fopen(argv[i], "rb");
		uint8_t *buf;
		long n;

		if (fp == NULL || fseek(fp, 0, SEEK_END) != 0 ||
		    (n = ftell(fp)) < 0 || fseek(fp, 0, SEEK_SET) != 0 ||
		    (buf = malloc(n + 1)) == NULL ||
		    fread(buf, 1, n, fp) != (size_t)n) {
			printf("not ok %d - %s: cannot read\n", i, argv[i]);
			if (fp != NULL)
				fclose(fp);
			continue;
		}
		fclose(fp);
		LLVMFuzzerTestOneInput(buf, n);
		free(buf);
		printf("ok %d - %s\n", i, argv[i]);
	}
	return 0;
}
