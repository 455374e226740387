/*
 * meshc: the mesh compiler. Reads one mesh.conf, checks the whole mesh
 * and writes one static meshd.conf per service, or draws the mesh.
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mesh.h"

static void
usage(void)
{
	fprintf(stderr,
	    "usage: meshc compile [-o DIR] [-Werror] [--format=text|json] "
	    "MESH.conf\n"
	    "       meshc check [-Werror] [--format=text|json] MESH.conf\n"
	    "       meshc explain SERVICE MESH.conf\n"
	    "       meshc graph [-T dot|svg] [-Werror] MESH.conf\n"
	    "       meshc certs [-o DIR] MESH.conf\n"
	    "       meshc -V\n");
	exit(2);
}

static void
json_string(const char *s)
{
	putchar('"');
	for (; *s != '\0'; s++) {
		unsigned char c = *s;

		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

/* --format=json: one array on stdout, an object per diagnostic, for CI
 * annotators. */
static void
json_sink(void *arg, const struct msh_diag_msg *m)
{
	int *n = arg;

	fputs((*n)++ == 0 ? "[\n  {" : ",\n  {", stdout);
	fputs("\"file\": ", stdout);
	if (m->file != NULL)
		json_string(m->file);
	else
		fputs("null", stdout);
	printf(", \"line\": %u, \"severity\": \"%s\", \"code\": ", m->line,
	    m->sev == MSH_ERROR ? "error" : "warning");
	json_string(m->code);
	fputs(", \"message\": ", stdout);
	json_string(m->message);
	putchar('}');
}

/* meshc explain SERVICE MESH.conf: diagnostics on stderr, the settings on
 * stdout if the mesh has no error. */
static int
explain(int argc, char **argv)
{
	struct msh_diag diag = { 0 };
	struct mc_mesh mesh;
	int r = 1;

	if (argc != 3 || argv[1][0] == '-' || argv[2][0] == '-')
		usage();
	if (mc_parse(&mesh, argv[2], &diag) == 0) {
		mc_check(&mesh, &diag);
		if (!msh_diag_failed(&diag) &&
		    mc_explain(stdout, &mesh, argv[1], &diag) == 0)
			r = 0;
	}
	mc_free(&mesh);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		perror("meshc: standard output");
		r = 1;
	}
	return r;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "format", required_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 },
	};
	struct msh_diag diag = { 0 };
	struct mc_mesh mesh;
	const char *cmd, *outdir = ".";
	char dot[4096];
	int compile, graph = 0, certs = 0, svg = 0, ch, json = 0, njson = 0;

	if (argc == 2 && strcmp(argv[1], "-V") == 0) {
		printf("meshc " PACKAGE_VERSION "\n");
		return 0;
	}
	if (argc < 2)
		usage();
	cmd = argv[1];
	if (strcmp(cmd, "compile") == 0)
		compile = 1;
	else if (strcmp(cmd, "check") == 0)
		compile = 0;
	else if (strcmp(cmd, "explain") == 0)
		return explain(argc - 1, argv + 1);
	else if (strcmp(cmd, "graph") == 0)
		compile = 0, graph = 1;
	else if (strcmp(cmd, "certs") == 0)
		compile = 0, certs = 1;
	else {
		fprintf(stderr, "meshc: unknown command \"%s\"\n", cmd);
		usage();
	}
	argc--;
	argv++;
	while ((ch = getopt_long(argc, argv, "o:T:W:", longopts, NULL)) != -1) {
		switch (ch) {
		case 'f':
			if (strcmp(optarg, "json") == 0)
				json = 1;
			else if (strcmp(optarg, "text") != 0)
				usage();
			break;
		case 'o':
			if (!compile && !certs)
				usage();
			outdir = optarg;
			break;
		case 'T':
			if (!graph)
				usage();
			if (strcmp(optarg, "svg") == 0)
				svg = 1;
			else if (strcmp(optarg, "dot") == 0)
				svg = 0;
			else
				usage();
			break;
		case 'W':
			if (strcmp(optarg, "error") != 0)
				usage();
			diag.werror = 1;
			break;
		default:
			usage();
		}
	}
	if (optind != argc - 1)
		usage();
	/* stdout carries the graph: diagnostics stay text, on stderr. */
	if (graph && json)
		usage();
	if (svg && mc_graph_find_dot(dot, sizeof(dot)) != 0) {
		fprintf(stderr, "meshc: -T svg needs Graphviz's dot in PATH "
		    "(Debian: apt-get install graphviz); -T dot needs nothing\n");
		return 2;
	}
	if (json) {
		diag.sink = json_sink;
		diag.arg = &njson;
	}

	if (mc_parse(&mesh, argv[optind], &diag) == 0)
		mc_check(&mesh, &diag);
	if (!msh_diag_failed(&diag) && compile)
		mc_emit(&mesh, outdir, &diag);
	if (!msh_diag_failed(&diag) && certs)
		mc_certs(&mesh, outdir, &diag);
	if (!msh_diag_failed(&diag) && graph)
		mc_graph(&mesh, stdout, svg ? dot : NULL, &diag);
	mc_free(&mesh);
	if (json)
		fputs(njson ? "\n]\n" : "[]\n", stdout);
	return msh_diag_failed(&diag) ? 1 : 0;
}
