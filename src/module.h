#ifndef MSH_MODULE_H
#define MSH_MODULE_H

#include "module-t.h"

/* The compiled-in modules in order, NULL-terminated (modules_table.c). */
extern const struct msh_module *const msh_modules[];

/* The load balancer module called name, or NULL. */
const struct msh_module *msh_module_lb(const char *name);

#endif
