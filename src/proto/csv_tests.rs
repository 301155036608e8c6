use super::*;

fn rows(c: &Csv) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut row = Vec::new();
    for r in 0..c.len() {
        c.row(r, &mut row);
        out.push(row.iter().map(|f| String::from_utf8_lossy(f).into_owned()).collect());
    }
    out
}

#[test]
fn header_names_and_plain_rows_with_lf_or_crlf() {
    for text in ["user,room\nann,1\nbob,22\n", "user,room\r\nann,1\r\nbob,22", "user,room\n\nann,1\r\n\nbob,22\n\n"] {
        let c = Csv::parse(text.as_bytes()).unwrap();
        assert_eq!(c.names(), ["user", "room"], "{text:?}");
        assert_eq!(rows(&c), [["ann", "1"], ["bob", "22"]], "{text:?}");
        assert_eq!((c.field(1, 0), c.width(0), c.width(1)), (&b"bob"[..], (3, 3), (1, 2)));
    }
}

#[test]
fn quoted_fields_keep_commas_quotes_and_line_breaks() {
    let c = Csv::parse(b"a,b,c\n\"x,y\",\"say \"\"hi\"\"\",\"two\nlines\"\n,\"\",\r\n").unwrap();
    assert_eq!(rows(&c), [["x,y", "say \"hi\"", "two\nlines"], ["", "", ""]]);
    assert_eq!(c.width(2), (0, 9));
}

#[test]
fn errors_name_their_line() {
    let err = |t: &str| Csv::parse(t.as_bytes()).unwrap_err();
    assert_eq!(err("a,b\n1,2\n3\n"), CsvError { line: 3, message: "1 fields, the header has 2".into() });
    assert_eq!(err("a\n\"x\ny\"\n\"open\n").line, 4, "the line the quote opened on");
    assert!(err("a\n\"open\n").message.contains("never closed"));
    assert_eq!(err("a\n1\nx\"y\n").line, 3);
    assert!(err("a\n\"x\"y\n").message.contains("after a closing quote"));
    assert!(err("a,a\n").message.contains("twice"));
    assert!(err("a,,b\n").message.contains("column 2 has no name"));
    assert!(err("").message.contains("empty"));
    assert!(err("a\n1\r2\n").message.contains("carriage return"));
    assert_eq!(err("a\n\"multi\nline\"\n1,2\n").line, 4, "counted through the quoted line break");
}

#[test]
fn a_header_without_rows_is_empty_and_rows_are_stored_in_one_buffer() {
    let c = Csv::parse(b"only\n").unwrap();
    assert!(c.is_empty());
    assert_eq!((c.len(), c.width(0)), (0, (0, 0)));
    let c = Csv::parse(b"k,v\nab,cde\nf,\n").unwrap();
    assert_eq!((c.data.as_slice(), c.ends.as_slice()), (&b"abcdef"[..], &[2, 5, 6, 6][..]));
}
