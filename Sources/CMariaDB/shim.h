// MariaDB Connector/C (libmariadb-dev), plus what Swift cannot call directly:
// mysql_optionsv is C-variadic and mysql_library_init is a macro.
#ifndef CMARIADB_SHIM_H
#define CMARIADB_SHIM_H
#include <stddef.h>
#include <mysql.h>

static inline int cmariadb_library_init(void) {
    return mysql_library_init(0, NULL, NULL);
}

static inline int cmariadb_set_uint(MYSQL *mysql, enum mysql_option option, unsigned int value) {
    return mysql_optionsv(mysql, option, (const void *)&value);
}

static inline int cmariadb_set_bool(MYSQL *mysql, enum mysql_option option, my_bool value) {
    return mysql_optionsv(mysql, option, (const void *)&value);
}

static inline int cmariadb_set_string(MYSQL *mysql, enum mysql_option option, const char *value) {
    return mysql_optionsv(mysql, option, (const void *)value);
}

/* Bulk array binding: the number of rows bound per execute. */
static inline int cmariadb_stmt_set_array_size(MYSQL_STMT *stmt, unsigned int rows) {
    return mysql_stmt_attr_set(stmt, STMT_ATTR_ARRAY_SIZE, &rows);
}

/* Column-wise array binding: the per-row indicator array (a union member in MYSQL_BIND). */
static inline void cmariadb_bind_set_indicator(MYSQL_BIND *bind, char *indicators) {
    bind->u.indicator = indicators;
}
#endif
