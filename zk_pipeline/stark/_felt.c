/*
 * Vector arithmetic in the Stark field p = 2^251 + 17 * 2^192 + 1, for the prover.
 *
 * Why this file exists: the prover's work is almost all element-wise products and
 * NTT butterflies over tens of thousands of field elements. As Python ints in NumPy
 * object arrays one product costs ~0.4 us (interpreter dispatch plus a 502-bit
 * remainder); here it is a 4-limb Montgomery product of ~35 ns on this machine. Nothing
 * protocol-specific lives here: only +, -, *, inverses, powers, the radix-2 NTT and a
 * linear combination, on contiguous little-endian uint64[4] limbs in Montgomery form
 * (x is stored as x * 2^256 mod p). ``fvec.py`` wraps these for the prover; the
 * verifier never uses them, and the pure-Python backend in ``fvec.py`` computes the
 * same values (the tests compare whole proofs byte for byte).
 *
 * Every function takes C-contiguous uint64 buffers (element counts follow from their
 * sizes, which are checked); fvec.py passes only canonical inputs (< p), and every
 * output is fully reduced (< p). Untrusted bytes never reach this file: the verifier
 * works on Python ints.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

typedef uint64_t u64;
typedef unsigned __int128 u128;

/* p, little-endian limbs: 1 + (17 << 192) + (1 << 251). */
static const u64 P[4] = {1ULL, 0ULL, 0ULL, 0x0800000000000011ULL};
/* -p^-1 mod 2^64 (p = 1 mod 2^64, so this is 2^64 - 1). */
static const u64 PINV = 0xFFFFFFFFFFFFFFFFULL;
/* 2^256 mod p, i.e. 1 in Montgomery form. */
static const u64 ONE[4] = {0xFFFFFFFFFFFFFFE1ULL, 0xFFFFFFFFFFFFFFFFULL, 0xFFFFFFFFFFFFFFFFULL,
                           0x07FFFFFFFFFFFDF0ULL};

static inline int geq_p(const u64 a[4]) {
    for (int i = 3; i >= 0; i--) {
        if (a[i] != P[i]) return a[i] > P[i];
    }
    return 1;
}

static inline void sub_p(u64 a[4]) {
    u128 borrow = 0;
    for (int i = 0; i < 4; i++) {
        u128 d = (u128)a[i] - P[i] - borrow;
        a[i] = (u64)d;
        borrow = (d >> 64) & 1;
    }
}

static inline void fe_add(u64 r[4], const u64 a[4], const u64 b[4]) {
    /* a, b < p < 2^252: the sum cannot overflow 256 bits. */
    u128 c = 0;
    for (int i = 0; i < 4; i++) {
        c += (u128)a[i] + b[i];
        r[i] = (u64)c;
        c >>= 64;
    }
    if (geq_p(r)) sub_p(r);
}

static inline void fe_sub(u64 r[4], const u64 a[4], const u64 b[4]) {
    u128 borrow = 0;
    u64 t[4];
    for (int i = 0; i < 4; i++) {
        u128 d = (u128)a[i] - b[i] - borrow;
        t[i] = (u64)d;
        borrow = (d >> 64) & 1;
    }
    if (borrow) { /* a < b: add p back */
        u128 c = 0;
        for (int i = 0; i < 4; i++) {
            c += (u128)t[i] + P[i];
            t[i] = (u64)c;
            c >>= 64;
        }
    }
    memcpy(r, t, sizeof t);
}

/* Montgomery product a * b / 2^256 mod p (CIOS: multiply and reduce limb by limb). */
static inline void fe_mul(u64 r[4], const u64 a[4], const u64 b[4]) {
    u64 t[6] = {0, 0, 0, 0, 0, 0};
    for (int i = 0; i < 4; i++) {
        u128 c = 0;
        for (int j = 0; j < 4; j++) {
            c += (u128)a[j] * b[i] + t[j];
            t[j] = (u64)c;
            c >>= 64;
        }
        c += t[4];
        t[4] = (u64)c;
        t[5] = (u64)(c >> 64);
        u64 m = t[0] * PINV;
        c = (u128)m * P[0] + t[0];
        c >>= 64;
        for (int j = 1; j < 4; j++) {
            c += (u128)m * P[j] + t[j];
            t[j - 1] = (u64)c;
            c >>= 64;
        }
        c += t[4];
        t[3] = (u64)c;
        t[4] = t[5] + (u64)(c >> 64);
    }
    r[0] = t[0]; r[1] = t[1]; r[2] = t[2]; r[3] = t[3];
    if (t[4] || geq_p(r)) sub_p(r);
}

static void fe_pow(u64 r[4], const u64 base[4], const u64 e[4]) {
    u64 acc[4], b[4];
    memcpy(acc, ONE, sizeof acc);
    memcpy(b, base, sizeof b);
    for (int i = 0; i < 4; i++) {
        for (int bit = 0; bit < 64; bit++) {
            if ((e[i] >> bit) & 1) fe_mul(acc, acc, b);
            fe_mul(b, b, b);
        }
    }
    memcpy(r, acc, sizeof acc);
}

static int is_zero(const u64 a[4]) { return !(a[0] | a[1] | a[2] | a[3]); }

/* ---- argument helpers ------------------------------------------------------------------- */

typedef struct {
    Py_buffer view;
    u64 *p;
    Py_ssize_t n; /* elements (4 limbs each) */
} Buf;

static int get_buf(PyObject *obj, Buf *b, int writable) {
    if (PyObject_GetBuffer(obj, &b->view, (writable ? PyBUF_WRITABLE : 0) | PyBUF_C_CONTIGUOUS) < 0) return 0;
    if (b->view.len % 32) {
        PyBuffer_Release(&b->view);
        PyErr_SetString(PyExc_ValueError, "buffer is not a whole number of 32-byte field elements");
        return 0;
    }
    b->p = (u64 *)b->view.buf;
    b->n = b->view.len / 32;
    return 1;
}

static void release_bufs(Buf *bufs, int count) {
    for (int i = 0; i < count; i++) PyBuffer_Release(&bufs[i].view);
}

/* Every kernel's arguments: ``count`` buffers, the first one written (the output). All are
 * acquired, or none (and a Python error is set). */
static int get_bufs(PyObject *const *objs, Buf *bufs, int count) {
    for (int i = 0; i < count; i++) {
        if (!get_buf(objs[i], &bufs[i], i == 0)) {
            release_bufs(bufs, i);
            return 0;
        }
    }
    return 1;
}

/* Release the buffers; None, or NULL if the kernel set an error. */
static PyObject *finish(Buf *bufs, int count) {
    release_bufs(bufs, count);
    if (PyErr_Occurred()) return NULL;
    Py_RETURN_NONE;
}

/* binary(op, out, a, b): out[i] = a[i] op b[i or 0] (b may hold one element: a scalar);
 * op 3 is the reversed difference b - a. */
static PyObject *binary(PyObject *args, int op) {
    PyObject *o[3];
    Buf v[3];
    if (!PyArg_ParseTuple(args, "OOO", &o[0], &o[1], &o[2]) || !get_bufs(o, v, 3)) return NULL;
    Buf out = v[0], a = v[1], b = v[2];
    if (a.n != out.n || (b.n != out.n && b.n != 1)) {
        PyErr_SetString(PyExc_ValueError, "operand lengths differ");
    } else {
        Py_ssize_t bstep = b.n == 1 ? 0 : 4;
        Py_BEGIN_ALLOW_THREADS
        for (Py_ssize_t i = 0; i < out.n; i++) {
            const u64 *ai = a.p + 4 * i, *bi = b.p + bstep * i;
            u64 *ri = out.p + 4 * i;
            if (op == 0) fe_add(ri, ai, bi);
            else if (op == 1) fe_sub(ri, ai, bi);
            else if (op == 2) fe_mul(ri, ai, bi);
            else fe_sub(ri, bi, ai);
        }
        Py_END_ALLOW_THREADS
    }
    return finish(v, 3);
}

static PyObject *py_add(PyObject *self, PyObject *args) { return binary(args, 0); }
static PyObject *py_sub(PyObject *self, PyObject *args) { return binary(args, 1); }
static PyObject *py_mul(PyObject *self, PyObject *args) { return binary(args, 2); }
static PyObject *py_rsub(PyObject *self, PyObject *args) { return binary(args, 3); }

/* batch_inverse(out, a): Montgomery's trick; ZeroDivisionError if any element is zero. */
static PyObject *py_batch_inverse(PyObject *self, PyObject *args) {
    PyObject *o[2];
    Buf v[2];
    if (!PyArg_ParseTuple(args, "OO", &o[0], &o[1]) || !get_bufs(o, v, 2)) return NULL;
    Buf out = v[0], a = v[1];
    if (a.n != out.n) {
        PyErr_SetString(PyExc_ValueError, "operand lengths differ");
    } else if (a.n) {
        u64 acc[4], inv[4], t[4];
        static const u64 PM2[4] = {0xFFFFFFFFFFFFFFFFULL, 0xFFFFFFFFFFFFFFFFULL, 0xFFFFFFFFFFFFFFFFULL,
                                   0x0800000000000010ULL}; /* p - 2 */
        int zero = 0;
        memcpy(acc, ONE, sizeof acc);
        for (Py_ssize_t i = 0; i < a.n && !zero; i++) {
            if (is_zero(a.p + 4 * i)) zero = 1;
            memcpy(out.p + 4 * i, acc, sizeof acc); /* prefix product of a[0..i-1] */
            fe_mul(acc, acc, a.p + 4 * i);
        }
        if (zero) {
            PyErr_SetString(PyExc_ZeroDivisionError, "batch inverse of zero");
        } else {
            fe_pow(inv, acc, PM2);
            for (Py_ssize_t i = a.n - 1; i >= 0; i--) {
                fe_mul(t, out.p + 4 * i, inv);
                fe_mul(inv, inv, a.p + 4 * i);
                memcpy(out.p + 4 * i, t, sizeof t);
            }
        }
    }
    return finish(v, 2);
}

/* powers(out, base, start): out[i] = start * base^i. */
static PyObject *py_powers(PyObject *self, PyObject *args) {
    PyObject *o[3];
    Buf v[3];
    if (!PyArg_ParseTuple(args, "OOO", &o[0], &o[1], &o[2]) || !get_bufs(o, v, 3)) return NULL;
    Buf out = v[0], base = v[1], start = v[2];
    if (base.n != 1 || start.n != 1) {
        PyErr_SetString(PyExc_ValueError, "base and start must be single elements");
    } else if (out.n) {
        memcpy(out.p, start.p, 32);
        for (Py_ssize_t i = 1; i < out.n; i++) fe_mul(out.p + 4 * i, out.p + 4 * (i - 1), base.p);
    }
    return finish(v, 3);
}

/* One radix-2 stage (butterfly span m) over the elements [lo, hi) of a size-n vector. */
static inline void butterflies(u64 *v, Py_ssize_t lo, Py_ssize_t hi, Py_ssize_t m, Py_ssize_t n, const u64 *tw) {
    Py_ssize_t h = m >> 1, step = n / m;
    for (Py_ssize_t k = lo; k < hi; k += m) {
        for (Py_ssize_t j = 0; j < h; j++) {
            u64 *x = v + 4 * (k + j), *y = v + 4 * (k + j + h), t[4];
            if (j == 0) memcpy(t, y, 32);
            else fe_mul(t, y, tw + 4 * (j * step));
            fe_sub(y, x, t);
            fe_add(x, x, t);
        }
    }
}

/* Elements per cache block of the NTT's first stages (1024 x 32 bytes = 32 KiB). */
#define NTT_BLOCK 1024

/*
 * ntt(data, twiddles, rows): in place, each of ``rows`` consecutive vectors of n = len/rows
 * elements goes from natural order to its transform: iterative Cooley-Tukey on
 * bit-reversed input. ``twiddles`` holds w^0 .. w^(n/2-1) for the size-n root w (its
 * inverse for an inverse transform); the caller applies any 1/n scaling.
 */
static PyObject *py_ntt(PyObject *self, PyObject *args) {
    PyObject *o[2];
    Buf v[2];
    Py_ssize_t rows;
    if (!PyArg_ParseTuple(args, "OOn", &o[0], &o[1], &rows) || !get_bufs(o, v, 2)) return NULL;
    Buf a = v[0], w = v[1];
    Py_ssize_t n = rows > 0 ? a.n / rows : 0;
    if (rows <= 0 || n * rows != a.n || (n & (n - 1)) || (n > 1 && w.n != n / 2)) {
        PyErr_SetString(PyExc_ValueError, "ntt: bad sizes");
    } else if (n > 1) {
        int logn = 0;
        while (((Py_ssize_t)1 << logn) < n) logn++;
        Py_BEGIN_ALLOW_THREADS
        for (Py_ssize_t r = 0; r < rows; r++) {
            u64 *x = a.p + 4 * n * r;
            for (Py_ssize_t i = 0; i < n; i++) { /* bit-reversal permutation */
                Py_ssize_t j = 0;
                for (int b = 0; b < logn; b++) j |= ((i >> b) & 1) << (logn - 1 - b);
                if (j > i) {
                    u64 t[4];
                    memcpy(t, x + 4 * i, 32);
                    memcpy(x + 4 * i, x + 4 * j, 32);
                    memcpy(x + 4 * j, t, 32);
                }
            }
            /* Stages up to NTT_BLOCK only mix elements within aligned blocks of that size: run
             * them block by block, so each block stays in L1 while its stages complete. */
            Py_ssize_t blk = n < NTT_BLOCK ? n : NTT_BLOCK;
            for (Py_ssize_t base = 0; base < n; base += blk) {
                for (Py_ssize_t m = 2; m <= blk; m <<= 1) butterflies(x, base, base + blk, m, n, w.p);
            }
            for (Py_ssize_t m = 2 * blk; m <= n; m <<= 1) butterflies(x, 0, n, m, n, w.p);
        }
        Py_END_ALLOW_THREADS
    }
    return finish(v, 2);
}

/* lincomb(out, coeffs, mat): out = sum_i coeffs[i] * mat[i], mat holding k rows of len(out). */
static PyObject *py_lincomb(PyObject *self, PyObject *args) {
    PyObject *o[3];
    Buf v[3];
    if (!PyArg_ParseTuple(args, "OOO", &o[0], &o[1], &o[2]) || !get_bufs(o, v, 3)) return NULL;
    Buf out = v[0], co = v[1], mat = v[2];
    if (mat.n != co.n * out.n) {
        PyErr_SetString(PyExc_ValueError, "lincomb: bad sizes");
    } else {
        Py_BEGIN_ALLOW_THREADS
        memset(out.p, 0, 32 * out.n);
        for (Py_ssize_t k = 0; k < co.n; k++) {
            const u64 *ck = co.p + 4 * k, *row = mat.p + 4 * out.n * k;
            for (Py_ssize_t i = 0; i < out.n; i++) {
                u64 t[4];
                fe_mul(t, row + 4 * i, ck);
                fe_add(out.p + 4 * i, out.p + 4 * i, t);
            }
        }
        Py_END_ALLOW_THREADS
    }
    return finish(v, 3);
}

static PyMethodDef methods[] = {
    {"add", py_add, METH_VARARGS, "out = a + b"},
    {"sub", py_sub, METH_VARARGS, "out = a - b"},
    {"mul", py_mul, METH_VARARGS, "out = a * b (Montgomery)"},
    {"rsub", py_rsub, METH_VARARGS, "out = b - a"},
    {"batch_inverse", py_batch_inverse, METH_VARARGS, "out = 1 / a"},
    {"powers", py_powers, METH_VARARGS, "out[i] = start * base^i"},
    {"ntt", py_ntt, METH_VARARGS, "in-place radix-2 NTT of each row"},
    {"lincomb", py_lincomb, METH_VARARGS, "out = sum_i c[i] * mat[i]"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, .m_name = "_felt", .m_doc = "Stark-field vector kernels.", .m_size = -1, .m_methods = methods,
};

PyMODINIT_FUNC PyInit__felt(void) { return PyModule_Create(&module); }
